"""Assigned queues: a lead delegates the decisions of a filter to one named reviewer.

An assignment fixes, when it is made, the unreviewed decisions its filter (the table's
:class:`~policy_desktop.store.queries.DecisionFilter`) selects that nobody else holds;
each decision is in at most one reviewer's queue (the primary key of
``decision_assignments``). New decisions that match later are not added: assign again.
The assignment takes effect at once: another reviewer's unfinished first-review claim
on one of its decisions is withdrawn (their submit is refused, nothing saved). Withdrawing
an assignment puts its unreviewed decisions back into the unassigned pool.

Assignments govern the first review only; the blind second opinion of the overlap sample
goes to any other reviewer, as it must.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields

import peewee as pw

from policy_desktop.store.decision import now_iso
from policy_desktop.store.errors import StoreError
from policy_desktop.store.failures import guarded_method
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.team_tables import (
    ASSIGN_LOCK_KEY,
    ASSIGNMENT_TABLES,
    create_team_tables,
    has_team_tables,
)

_DEFAULT_FILTER = DecisionFilter()


def filter_to_json(flt: DecisionFilter) -> str:
    """The filter as stored (every field, sorted keys)."""
    return json.dumps(asdict(flt), sort_keys=True)


def filter_from_json(text: str) -> DecisionFilter:
    """A stored filter back (fields a later version dropped are ignored)."""
    known = {f.name for f in fields(DecisionFilter)}
    values = json.loads(text)
    return DecisionFilter(**{k: v for k, v in values.items() if k in known})


def describe_filter(flt: DecisionFilter) -> str:
    """The parts of a filter that differ from the table's default, e.g.
    ``decision=deny, run_id=r1`` (``all unreviewed decisions`` for the default)."""
    shown = [f.name for f in fields(DecisionFilter) if f.name != "sort"
             and (f.name != "pass_coverage" or flt.view == "failures")]
    parts = [f"{name}={getattr(flt, name)}" for name in shown
             if getattr(flt, name) != getattr(_DEFAULT_FILTER, name)]
    return ", ".join(parts) or "all unreviewed decisions"


@dataclass(frozen=True)
class Assignment:
    """One delegation and how far its reviewer got."""

    id: str
    reviewer: str
    filter: DecisionFilter
    assigned_by: str
    created: str
    withdrawn: str | None
    decisions: int
    """Decisions it holds (none once withdrawn)."""
    reviewed: int
    """Of those, how many are reviewed."""

    @property
    def open(self) -> int:
        """Decisions still waiting in the reviewer's queue."""
        return self.decisions - self.reviewed

    @property
    def active(self) -> bool:
        return self.withdrawn is None


@dataclass(frozen=True)
class AssignResult:
    """What :meth:`Assignments.assign` did."""

    assignment: Assignment
    assigned: int
    """Decisions newly put in the reviewer's queue."""
    held_by_others: dict[str, int] = field(default_factory=dict)
    """Decisions the filter selects that stay in another reviewer's (or this one's
    earlier) queue, by reviewer."""
    claims_withdrawn: int = 0
    """Other reviewers' unfinished claims on the newly assigned decisions."""


@dataclass(frozen=True)
class QueueCounts:
    """Unreviewed decisions as one reviewer sees the queue."""

    mine: int
    """Assigned to this reviewer."""
    unassigned: int
    """In nobody's queue."""
    others: int
    """Assigned to someone else (never handed to this reviewer)."""


class Assignments:
    """The assigned queues of one decision log."""

    def __init__(self, log: PolicyDecisionLog) -> None:
        self.log = log
        self._db = log.database
        self._p = self._db.param
        self._server = isinstance(self._db, pw.PostgresqlDatabase)

    @property
    def display_name(self) -> str:
        return self.log.display_name

    def _has_tables(self) -> bool:
        return has_team_tables(self._db, ASSIGNMENT_TABLES)

    def _lock_out_claims(self) -> None:
        """PostgreSQL: wait for claims in progress and keep new ones out until commit."""
        if self._server:
            self._db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ASSIGN_LOCK_KEY,))

    # --- changing ------------------------------------------------------------------------

    @guarded_method
    def assign(self, reviewer: str, flt: DecisionFilter, *, by: str,
               limit: int | None = None) -> AssignResult:
        """Put the unreviewed decisions ``flt`` selects (at most ``limit``, newest first)
        that are in nobody's queue into ``reviewer``'s queue; ``by``: the lead's name."""
        if not reviewer.strip():
            raise StoreError("an assignment needs the reviewer's name")
        if not by.strip():
            raise StoreError("an assignment needs the name of who assigns it")
        if limit is not None and limit < 1:
            raise StoreError(f"the limit must be at least 1, not {limit}")
        p = self._p
        assignment_id = uuid.uuid4().hex
        created = now_iso()
        with self.log.write_transaction():
            if not has_team_tables(self._db):  # (CREATE INDEX locks its table even when there)
                create_team_tables(self._db)
            self._lock_out_claims()
            self._db.execute_sql(  # the reviewer joins the team's list (the lead need not)
                f"INSERT INTO reviewers (name, added) VALUES ({p}, {p}) "
                "ON CONFLICT (name) DO NOTHING", (reviewer, created))
            self._db.execute_sql(
                "INSERT INTO assignments (id, reviewer, filter, assigned_by, created) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (assignment_id, reviewer, filter_to_json(flt), by, created))
            selected_sql, selected_params = self._selected(flt).sql()
            held = {name: int(count) for name, count in self._db.execute_sql(
                "SELECT a.reviewer, COUNT(*) FROM decision_assignments a "
                f"WHERE a.decision_id IN ({selected_sql}) GROUP BY a.reviewer",
                tuple(selected_params))}
            free_sql, free_params = self._selected(flt, free=True, limit=limit).sql()
            assigned = self._db.execute_sql(
                "INSERT INTO decision_assignments (decision_id, assignment_id, reviewer) "
                f"SELECT s.decision_id, {p}, {p} FROM ({free_sql}) s",
                (assignment_id, reviewer, *free_params)).rowcount
            withdrawn = self._db.execute_sql(
                f"DELETE FROM review_claims WHERE slot = 0 AND done = 0 AND reviewer <> {p} "
                "AND decision_id IN (SELECT decision_id FROM decision_assignments "
                f"WHERE assignment_id = {p})", (reviewer, assignment_id)).rowcount
        [made] = self._listing(f" WHERE s.id = {p}", (assignment_id,))
        return AssignResult(made, int(assigned), dict(sorted(held.items())), int(withdrawn))

    def _selected(self, flt: DecisionFilter, *, free: bool = False,
                  limit: int | None = None) -> pw.SelectQuery:
        """The unreviewed decisions of ``flt`` (``free``: in nobody's queue), newest first."""
        D = self.log.models.Decision
        query = D.select(D.decision_id).where(D.reviewed == 0)
        # The table's own conditions, so a delegation selects exactly what the table shows.
        for condition in DecisionQueries(self.log)._where(flt):
            query = query.where(condition)
        if free:
            query = query.where(pw.NodeList((
                pw.SQL("NOT EXISTS (SELECT 1 FROM decision_assignments a "
                       "WHERE a.decision_id ="), D.decision_id, pw.SQL(")"))))
        if limit is not None:
            query = query.order_by(D.timestamp.desc(), D.decision_id.desc()).limit(limit)
        return query

    @guarded_method
    def unassign(self, assignment_id: str | None = None, *,
                 reviewer: str | None = None) -> int:
        """Withdraw one assignment (by id, or a unique start of it) or every active one
        of ``reviewer``; their decisions go back to the unassigned pool. Return how many
        unreviewed decisions went back."""
        if (assignment_id is None) == (reviewer is None):
            raise StoreError("name either an assignment or a reviewer to unassign")
        if not self._has_tables():
            if assignment_id is not None:
                raise StoreError(f"no active assignment {assignment_id}")
            return 0
        p = self._p
        with self.log.write_transaction():
            self._lock_out_claims()
            if assignment_id is not None:
                ids = [row[0] for row in self._db.execute_sql(
                    "SELECT id FROM assignments WHERE withdrawn IS NULL AND id LIKE "
                    f"{p}", (assignment_id.replace("%", "").replace("_", "") + "%",))]
                if len(ids) != 1:
                    raise StoreError(
                        f"no active assignment {assignment_id}" if not ids else
                        f"{assignment_id} starts {len(ids)} assignments; give more of the id")
            else:
                ids = [row[0] for row in self._db.execute_sql(
                    f"SELECT id FROM assignments WHERE withdrawn IS NULL AND reviewer = {p}",
                    (reviewer,))]
            returned = 0
            for one in ids:
                returned += self._db.execute_sql(
                    "SELECT COUNT(*) FROM decision_assignments a JOIN decisions d "
                    f"ON d.decision_id = a.decision_id WHERE a.assignment_id = {p} "
                    "AND d.reviewed = 0", (one,)).fetchone()[0]
                self._db.execute_sql(
                    f"DELETE FROM decision_assignments WHERE assignment_id = {p}", (one,))
                self._db.execute_sql(
                    f"UPDATE assignments SET withdrawn = {p} WHERE id = {p}", (now_iso(), one))
        return int(returned)

    # --- reading -------------------------------------------------------------------------

    def _listing(self, where: str, params: tuple[object, ...]) -> list[Assignment]:
        rows = self._db.execute_sql(
            "SELECT s.id, s.reviewer, s.filter, s.assigned_by, s.created, s.withdrawn, "
            "COUNT(a.decision_id), COALESCE(SUM(CASE WHEN d.reviewed = 1 THEN 1 ELSE 0 END), 0) "
            "FROM assignments s LEFT JOIN decision_assignments a ON a.assignment_id = s.id "
            "LEFT JOIN decisions d ON d.decision_id = a.decision_id" + where
            + " GROUP BY s.id, s.reviewer, s.filter, s.assigned_by, s.created, s.withdrawn "
            "ORDER BY s.reviewer, s.created, s.id", params)
        return [Assignment(id=row[0], reviewer=row[1], filter=filter_from_json(row[2]),
                           assigned_by=row[3], created=row[4], withdrawn=row[5],
                           decisions=int(row[6]), reviewed=int(row[7])) for row in rows]

    @guarded_method
    def assignments(self, *, include_withdrawn: bool = False,
                    reviewer: str | None = None) -> list[Assignment]:
        """Assignments by reviewer (alphabetically), oldest first; active ones only
        unless ``include_withdrawn``."""
        if not self._has_tables():
            return []
        conditions, params = [], []
        if not include_withdrawn:
            conditions.append("s.withdrawn IS NULL")
        if reviewer is not None:
            conditions.append(f"s.reviewer = {self._p}")
            params.append(reviewer)
        where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        return self._listing(where, tuple(params))

    @guarded_method
    def assignees(self, decision_ids: Iterable[str]) -> dict[str, str]:
        """Whose queue each of ``decision_ids`` is in (unassigned ones are left out)."""
        ids = list(decision_ids)
        found: dict[str, str] = {}
        if not ids or not self._has_tables():
            return found
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join([self._p] * len(chunk))
            found.update(self._db.execute_sql(
                "SELECT decision_id, reviewer FROM decision_assignments "
                f"WHERE decision_id IN ({marks})", tuple(chunk)).fetchall())
        return found

    @guarded_method
    def my_queue(self, reviewer: str, limit: int | None = None) -> list[str]:
        """Ids of the unreviewed decisions in ``reviewer``'s queue, newest first."""
        if not self._has_tables():
            return []
        p = self._p
        sql = ("SELECT d.decision_id FROM decision_assignments a JOIN decisions d "
               f"ON d.decision_id = a.decision_id WHERE a.reviewer = {p} AND d.reviewed = 0 "
               "ORDER BY d.timestamp DESC, d.decision_id DESC")
        params: tuple[object, ...] = (reviewer,)
        if limit is not None:
            sql += f" LIMIT {p}"
            params += (limit,)
        return [row[0] for row in self._db.execute_sql(sql, params)]

    @guarded_method
    def counts(self, reviewer: str) -> QueueCounts:
        """Unreviewed decisions in ``reviewer``'s queue, in nobody's, in someone else's."""
        unreviewed = int(self._db.execute_sql(
            "SELECT COUNT(*) FROM decisions WHERE reviewed = 0").fetchone()[0])
        if not self._has_tables():
            return QueueCounts(0, unreviewed, 0)
        mine = others = 0
        for name, count in self._db.execute_sql(
                "SELECT a.reviewer, COUNT(*) FROM decision_assignments a JOIN decisions d "
                "ON d.decision_id = a.decision_id WHERE d.reviewed = 0 GROUP BY a.reviewer"):
            if name == reviewer:
                mine += int(count)
            else:
                others += int(count)
        return QueueCounts(mine, unreviewed - mine - others, others)
