""":class:`PolicyDecisionLog`: the public API of the decision database."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee as pw

from policy_desktop.store.database import DatabaseTarget, connect, parse_target, remove_created
from policy_desktop.store.decision import (
    CORRECTION_ACTIONS,
    UNDO_ACTION,
    PolicyDecision,
    action_for_changes,
    check_decision,
    derive_review_action,
    from_row,
    make_decision_id,
    now_iso,
    parse_timestamp,
    review_label,
    to_values,
    validate_review_risk_level,
)
from policy_desktop.store.errors import (
    DecisionNotFoundError,
    InvalidRecordError,
    ReviewConflictError,
    StoreError,
)
from policy_desktop.store.failures import explain, guarded_iterator, guarded_method
from policy_desktop.store.migrations import ensure_schema
from policy_desktop.store.rows import dict_rows, iter_dict_rows, tuple_rows
from policy_desktop.store.run_owner import ProcessIdentity, current_process, is_gone
from policy_desktop.store.schema import ALL_COLUMNS, STORED_COLUMNS, BoundModels, bind_models
from policy_desktop.store.views import view_condition
from policy_desktop.vocabulary import DECISIONS, TRAINING_GATE

BATCH_SIZE = 10_000
"""Decisions per transaction in :meth:`PolicyDecisionLog.log_decisions`: big enough that
commits and WAL checkpoints stay a small share of the time, small enough to hold the
write lock well under a second."""
_EVENT_COLUMNS = ("decision_id", "reviewer", "action", "review_decision", "review_reasoning",
                  "timestamp", "blind", "review_classification", "review_risk_level")
_ID = ALL_COLUMNS.index("decision_id")
_RUN = ALL_COLUMNS.index("run_id")
WRITE_LOCK_KEY = 0x706F6C6963790002
"""PostgreSQL advisory lock of :meth:`PolicyDecisionLog.write_transaction`."""
_ID_ATTEMPTS = 8
"""Fresh random suffixes tried for a generated id before it gets 16 hex digits."""
# peewee's stubs leave out the module's wrapper that turns driver errors into peewee's own
_DRIVER_ERRORS: pw.ExceptionWrapper = pw.__exception_wrapper__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReviewEvent:
    """One entry of a decision's review history."""

    id: int
    decision_id: str
    reviewer: str | None
    action: str
    review_decision: str | None
    review_reasoning: str | None
    timestamp: str
    blind: bool
    blind_decision: str | None
    review_classification: str | None = None
    """The reviewer's classification (None = not given: see ``final_classification``)."""
    review_risk_level: str | None = None
    comment: str | None = None
    """The reviewer's free-text note on this review (plain text)."""


@dataclass(frozen=True)
class RunRecord:
    """A scenario run as stored in the ``runs`` table."""

    run_id: str
    started: str
    finished: str | None
    status: str
    model_name: str | None
    model_version: str | None
    model_path: str | None
    prompt_version: str | None
    scenario_file: str | None
    scenario_ids: list[str]
    settings: dict[str, Any]
    summary: dict[str, Any]
    error: str | None
    owner_host: str | None = None
    owner_pid: int | None = None
    heartbeat: str | None = None


DUMP_SELECTIONS: tuple[str, ...] = ("all", "unreviewed", "incorrect", "corrections")
"""The views :meth:`PolicyDecisionLog.iter_decisions` (and ``dump``) stream."""
RUN_STATUSES: tuple[str, ...] = ("running", "completed", "cancelled", "failed", "interrupted")
STALE_RUN_SECONDS = 24 * 3600
"""A ``running`` run of another host (or of an older build, without an owner) that has
logged nothing for this long is taken as interrupted."""


class PolicyDecisionLog:
    """The decision database: logging, review, statistics and queries.

    Args:
        database: a SQLite file path, or a URL such as ``sqlite:///x.db`` or
            ``postgresql://user@host/db``; ``None`` means the default database.
        create: create a missing SQLite file (``False`` for read-only commands).

    Safe to share between threads: peewee keeps one connection per thread.
    """

    def __init__(self, database: str | Path | None = None, *, create: bool = True) -> None:
        if database is None:
            from policy_desktop.paths import default_database

            database = default_database()
        self.target: DatabaseTarget = parse_target(database)
        self._refuses_nul = not self.target.is_sqlite  # PostgreSQL text cannot hold U+0000
        opened = connect(self.target, create=create)
        self._db, found_version, backup = opened.database, opened.found_version, opened.backup
        self.read_only: bool = opened.read_only
        """True when the file could only be opened for reading (writes then fail clearly)."""
        self._m: BoundModels = bind_models(self._db)
        self._serialises_writes = isinstance(self._db, pw.PostgresqlDatabase)
        try:
            self.backup_path: Path | None = ensure_schema(
                self._db, self._m, self.target, found_version, backup,
                read_only=self.read_only)
        except StoreError:
            self._abandon(opened.created)
            raise
        except pw.DatabaseError as error:
            self._abandon(opened.created)
            failure = explain(error, self.display_name)
            if failure is not None:
                raise failure from error
            raise StoreError(f"{self.display_name}: cannot set up the schema ({error})") from error
        self._insert_sql = _insert_statement(self._db, "decisions", STORED_COLUMNS)
        self._event_sql = _insert_statement(self._db, "reviews", _EVENT_COLUMNS)
        self.interrupted_runs: list[str] = []
        """Runs this open found ``running`` with their process gone, now ``interrupted``."""
        if not self.read_only:
            try:
                self.interrupted_runs = self.close_abandoned_runs()
            except StoreError:  # busy or full: the next open tries again
                self.interrupted_runs = []

    # --- lifecycle --------------------------------------------------------------------

    @property
    def display_name(self) -> str:
        """The database as shown to people (path, or URL without password)."""
        return self.target.display_name

    @property
    def database(self) -> pw.Database:
        """The underlying peewee database (for the store's own query modules)."""
        return self._db

    @property
    def models(self) -> BoundModels:
        """The peewee model classes bound to this database."""
        return self._m

    def close(self) -> None:
        """Close this thread's connection (the file stays guarded while others are open)."""
        if not self._db.is_closed():
            self._db.close()

    def _abandon(self, created: bool) -> None:
        """Close after a failed set-up; a file created just now is removed again."""
        self.close()
        if created and self.target.sqlite_path is not None:
            remove_created(self.target.sqlite_path)

    def __enter__(self) -> PolicyDecisionLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _bump_revision(self) -> None:
        Meta = self._m.Meta
        Meta.update(value=pw.Cast(pw.Cast(Meta.value, "INTEGER") + 1, "TEXT")).where(
            Meta.key == "revision").execute()

    @guarded_method
    def revision(self) -> int:
        """A number that grows with every write by any process (for live updates)."""
        row = self._m.Meta.get_or_none(self._m.Meta.key == "revision")
        return int(row.value) if row else 0

    # --- logging ----------------------------------------------------------------------

    def prepare_row(self, decision: PolicyDecision) -> list[Any]:
        """Check ``decision``, fill in a missing timestamp/id, return its column values.

        Raises :class:`InvalidRecordError` when it cannot be stored (the JSONL import
        calls this per line, so one bad line is reported and the others are stored).
        """
        return self._prepare(decision)[0]

    def _prepare(self, decision: PolicyDecision) -> tuple[list[Any], bool]:
        """The column values, and whether the id was generated here."""
        check_decision(decision)
        if decision.timestamp is None:
            decision.timestamp = now_iso()
        generated = decision.decision_id is None
        if generated:
            decision.decision_id = make_decision_id(decision.timestamp)
        try:
            values = to_values(decision)
            if self._refuses_nul and any(
                    value.__class__ is str and "\x00" in value for value in values):
                name = next(name for name, value in zip(STORED_COLUMNS, values, strict=True)
                            if value.__class__ is str and "\x00" in value)
                raise InvalidRecordError(
                    f"{name} contains a NUL character (\\u0000), which this database "
                    "server cannot store")
            return values, generated
        except InvalidRecordError:
            if generated:
                decision.decision_id = None
            raise

    def log_decision(self, decision: PolicyDecision) -> str:
        """Store one decision; fill in its id and timestamp when absent; return the id."""
        self.log_decisions([decision])
        assert decision.decision_id is not None
        return decision.decision_id

    @guarded_method
    def log_decisions(self, decisions: Iterable[PolicyDecision]) -> int:
        """Store many decisions, one transaction per batch of :data:`BATCH_SIZE`.

        Ids and timestamps are filled in when absent; a generated id never replaces
        or collides with a stored decision (it is drawn again). Raises
        :class:`InvalidRecordError` for a bad decision or a given id already stored;
        the batch in progress is then not stored (earlier batches are). Returns how
        many decisions were stored.
        """
        total = 0
        batch = _Batch()
        for decision in decisions:
            batch.add(decision, *self._prepare(decision))
            if len(batch.rows) >= BATCH_SIZE:
                total += self._insert_rows(batch)
                batch = _Batch()
        if batch.rows:
            total += self._insert_rows(batch)
        return total

    def _insert_rows(self, batch: _Batch, events: Sequence[tuple[Any, ...]] = (),
                     reviews: Sequence[tuple[Any, ...]] = ()) -> int:
        """One transaction: ``executemany`` of a prepared INSERT (no per-row query building).

        A generated id that a stored decision already has is drawn again inside the
        same write transaction, so no decision is lost to a collision. ``events`` are
        the history events of new decisions; ``reviews`` events for stored decisions.
        """
        try:
            with self.write_transaction(), _DRIVER_ERRORS:
                try:
                    with self._db.atomic(), _DRIVER_ERRORS:
                        self._insert_many(self._insert_sql, batch.rows)
                except pw.IntegrityError:
                    if not batch.generated:
                        raise
                    self._redraw_taken_ids(batch)
                    self._insert_many(self._insert_sql, batch.rows)
                if events:
                    self._db.cursor().executemany(self._event_sql, events)
                if reviews:
                    self._db.cursor().executemany(self._event_sql, reviews)
                    for decision_id in dict.fromkeys(event[0] for event in reviews):
                        self._apply_history(decision_id, bump=False)
                run_ids = {row[_RUN] for row in batch.rows} - {None}
                if run_ids:
                    self._beat(run_ids)
                self._bump_revision()
        except pw.IntegrityError as error:
            raise InvalidRecordError(
                f"a decision of this batch is already stored or breaks a constraint ({error})"
            ) from error
        except UnicodeEncodeError as error:
            raise InvalidRecordError(
                "text contains an unpaired surrogate (not valid Unicode)") from error
        except OverflowError as error:
            raise InvalidRecordError(f"a number is too large to store ({error})") from error
        except (pw.InterfaceError, pw.ProgrammingError) as error:
            raise InvalidRecordError(f"cannot store this batch ({error})") from error
        return len(batch.rows)

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Many rows through one prepared INSERT; on PostgreSQL as multi-row VALUES pages
        (``execute_values``: one round trip per page instead of one per row)."""
        cursor = self._db.cursor()
        if not self._serialises_writes:
            cursor.executemany(sql, rows)
            return
        from psycopg2.extras import execute_values

        head, _, _ = sql.partition(" VALUES ")
        execute_values(cursor, f"{head} VALUES %s", rows, page_size=500)

    def _redraw_taken_ids(self, batch: _Batch) -> None:
        """Give generated ids that a stored decision already has a fresh random suffix."""
        generated = {batch.rows[i][_ID]: i for i in batch.generated}
        taken = set(self.stored_ids(generated))
        in_batch = {row[_ID] for row in batch.rows}
        for decision_id in taken:
            position = generated[decision_id]
            decision = batch.decisions[position]
            assert decision.timestamp is not None
            fresh = decision_id
            attempt = 0
            while fresh in in_batch or fresh in taken or self.stored_ids([fresh]):
                attempt += 1
                fresh = _fresh_id(decision.timestamp, attempt)
            in_batch.add(fresh)
            batch.rows[position][_ID] = fresh
            decision.decision_id = fresh

    def stored_ids(self, decision_ids: Iterable[str]) -> list[str]:
        """Those of ``decision_ids`` that a stored decision has."""
        ids = list(decision_ids)
        Decision = self._m.Decision
        found: list[str] = []
        for start in range(0, len(ids), 500):
            query = Decision.select(Decision.decision_id).where(
                Decision.decision_id.in_(ids[start:start + 500]))
            found += [row[0] for row in tuple_rows(query)]
        return found

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """A write transaction in which check-then-write is atomic between processes.

        SQLite: ``BEGIN IMMEDIATE`` (one writer at a time). PostgreSQL: the store's
        advisory lock, taken at the start of the outermost transaction, so concurrent
        writers see each other's rows before deciding (duplicates, undo, history).
        Nested uses are savepoints of the transaction in progress.
        """
        outermost = not self._db.in_transaction()
        with self._db.atomic():
            if outermost and self._serialises_writes:
                self._db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield

    @guarded_method
    def import_decisions(self, decisions: list[PolicyDecision],
                         reviews: Sequence[PolicyDecision] = ()) -> None:
        """Store decisions from outside with their review state (one history event each).

        ``reviews`` are stored decisions whose review (as the given records carry
        it: reviewer, time, answer) is appended to their history and takes effect.
        """
        for decision in (*decisions, *reviews):
            if decision.reviewed and decision.review_action is None:
                decision.review_action = derive_review_action(
                    decision.decision, decision.reasoning, decision.review_decision,
                    decision.review_reasoning)
        batch = _Batch()
        for decision in decisions:
            batch.add(decision, *self._prepare(decision))
        if not batch.rows and not reviews:
            return
        events = [_event_of(d) for d in decisions if d.reviewed]
        merged = [_event_of(d) for d in reviews if d.reviewed]
        self._insert_rows(batch, events, merged)

    # --- reading ----------------------------------------------------------------------

    @guarded_method
    def get_decision(self, decision_id: str) -> PolicyDecision | None:
        """The decision with this id, or None."""
        Decision = self._m.Decision
        rows = dict_rows(Decision.select().where(Decision.decision_id == decision_id).limit(1))
        return from_row(rows[0]) if rows else None

    @guarded_method
    def get_decisions(self, decision_ids: Iterable[str]) -> dict[str, PolicyDecision]:
        """The stored decisions among ``decision_ids``, by id."""
        ids = list(decision_ids)
        Decision = self._m.Decision
        found: dict[str, PolicyDecision] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in dict_rows(Decision.select().where(Decision.decision_id.in_(chunk))):
                found[row["decision_id"]] = from_row(row)
        return found

    def _newest(self, where: pw.Expression | None, limit: int | None) -> list[PolicyDecision]:
        Decision = self._m.Decision
        query = Decision.select()
        if where is not None:
            query = query.where(where)
        query = query.order_by(Decision.timestamp.desc(), Decision.decision_id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [from_row(row) for row in dict_rows(query)]

    def get_unreviewed_decisions(self, limit: int | None = None) -> list[PolicyDecision]:
        """Decisions nobody has reviewed yet, newest first."""
        return self._newest(view_condition(self._m.Decision, "unreviewed"), limit)

    def get_incorrect_decisions(self, limit: int | None = None) -> list[PolicyDecision]:
        """Decisions that did not match their expected decision, newest first."""
        return self._newest(view_condition(self._m.Decision, "incorrect"), limit)

    def get_all_decisions(self, limit: int | None = None) -> list[PolicyDecision]:
        """Every decision, newest first."""
        return self._newest(None, limit)

    def get_corrections(self, limit: int | None = None) -> list[PolicyDecision]:
        """Reviewed decisions whose human decision or reasoning differs from the model's."""
        return list(self.iter_corrections(limit=limit))

    @guarded_iterator
    def iter_corrections(
        self, *, include_accepted: bool = False, limit: int | None = None
    ) -> Iterator[PolicyDecision]:
        """Stream corrections (and accepted decisions if asked), newest first."""
        Decision = self._m.Decision
        actions = list(CORRECTION_ACTIONS) + (["accept"] if include_accepted else [])
        query = Decision.select().where(Decision.review_action.in_(actions)).order_by(
            Decision.timestamp.desc(), Decision.decision_id.desc())
        if limit is not None:
            query = query.limit(limit)
        for row in iter_dict_rows(query):
            yield from_row(row)

    @guarded_method
    def count_corrections(self) -> int:
        """How many decisions have been corrected by a reviewer."""
        Decision = self._m.Decision
        return Decision.select().where(view_condition(Decision, "corrections")).count()

    @guarded_iterator
    def iter_decisions(self, where: str = "all") -> Iterator[PolicyDecision]:
        """Stream decisions oldest first; ``where`` is a :data:`DUMP_SELECTIONS` name."""
        if where not in DUMP_SELECTIONS:
            raise ValueError(f"unknown selection {where!r}")
        Decision = self._m.Decision
        condition = view_condition(Decision, where)
        query = Decision.select()
        if condition is not None:
            query = query.where(condition)
        query = query.order_by(Decision.timestamp, Decision.decision_id)
        for row in iter_dict_rows(query):
            yield from_row(row)

    # --- review -----------------------------------------------------------------------

    @guarded_method
    def mark_reviewed(
        self,
        decision_id: str,
        review_decision: str | None = None,
        review_reasoning: str | None = None,
        reviewer: str | None = None,
        *,
        blind_decision: str | None = None,
        review_classification: str | None = None,
        review_risk_level: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Record a human review; return the action (``accept`` or ``correct_*``).

        Neither a decision nor a reasoning (or the model's own decision and no
        new reasoning) is an accept. The model's output is never modified; the
        review is appended to the history and the ``review_*`` columns show it.
        ``blind_decision`` is the reviewer's choice made before the model's
        answer was shown (blind review).

        ``review_classification`` (free text, stripped; empty = not given) and
        ``review_risk_level`` (one of ``RISK_LEVELS``) are the reviewer's labels;
        giving the model's own value re-confirms it. They do not change the action:
        the action names what happened to the decision and the reasoning. Without
        them, a corrected decision has no labels in training data
        (:attr:`PolicyDecision.final_classification`). ``comment`` is a free-text
        note kept with this review event (stripped; empty = none).
        """
        choices = (("review_decision", review_decision), ("blind_decision", blind_decision))
        for name, value in choices:
            if value is not None and value not in DECISIONS:
                raise InvalidRecordError(f"{name} {value!r} is not one of {', '.join(DECISIONS)}")
        if review_reasoning is not None and not review_reasoning.strip():
            raise InvalidRecordError("a corrected reasoning cannot be empty")
        validate_review_risk_level(review_risk_level)
        for name, text in (("review_classification", review_classification),
                           ("comment", comment)):
            if text is not None and not isinstance(text, str):
                raise InvalidRecordError(f"{name} must be text")
        with self.write_transaction():
            current = self.get_decision(decision_id)
            if current is None:
                raise DecisionNotFoundError(decision_id)
            decision_changed = review_decision is not None and review_decision != current.decision
            reasoning_changed = review_reasoning is not None and (
                review_reasoning.strip() != (current.reasoning or "").strip())
            action = action_for_changes(decision_changed, reasoning_changed)
            self._m.Review.insert(
                decision_id=decision_id, reviewer=reviewer, action=action,
                review_decision=review_decision if decision_changed else current.decision,
                review_reasoning=review_reasoning if reasoning_changed else None,
                timestamp=now_iso(), blind=int(blind_decision is not None),
                blind_decision=blind_decision,
                review_classification=review_label(review_classification),
                review_risk_level=review_risk_level, comment=review_label(comment),
            ).execute()
            self._apply_history(decision_id)
        return action

    @guarded_method
    def undo_review(self, decision_id: str, reviewer: str | None = None, *,
                    force: bool = False) -> PolicyDecision:
        """Take back ``reviewer``'s latest review; the history keeps both events.

        When someone else has reviewed the decision since, nothing changes and
        :class:`ReviewConflictError` says who and when, unless ``force`` (then the
        latest review, whoever made it, is taken back). Without a ``reviewer`` the
        latest review is taken back (the seed's behaviour).
        """
        with self.write_transaction():
            if self.get_decision(decision_id) is None:
                raise DecisionNotFoundError(decision_id)
            events = self._effective_events(decision_id)
            if not events:
                raise StoreError(f"{decision_id} has no review to undo")
            top = events[-1]
            if reviewer is not None and top.reviewer != reviewer and not force:
                raise ReviewConflictError(decision_id, top.reviewer, top.timestamp,
                                          top.action)
            self._m.Review.insert(decision_id=decision_id, reviewer=reviewer, action=UNDO_ACTION,
                                  timestamp=now_iso()).execute()
            self._apply_history(decision_id)
        result = self.get_decision(decision_id)
        assert result is not None
        return result

    @guarded_method
    def get_review_history(self, decision_id: str) -> list[ReviewEvent]:
        """Every review event of a decision, oldest first (undos included)."""
        Review = self._m.Review
        query = Review.select().where(Review.decision_id == decision_id).order_by(Review.id)
        return [ReviewEvent(
            id=row["id"], decision_id=row["decision_id"], reviewer=row["reviewer"],
            action=row["action"], review_decision=row["review_decision"],
            review_reasoning=row["review_reasoning"], timestamp=row["timestamp"],
            blind=bool(row["blind"]), blind_decision=row["blind_decision"],
            review_classification=row["review_classification"],
            review_risk_level=row["review_risk_level"], comment=row["comment"],
        ) for row in dict_rows(query)]

    def _effective_events(self, decision_id: str) -> list[ReviewEvent]:
        stack: list[ReviewEvent] = []
        for event in self.get_review_history(decision_id):
            if event.action == UNDO_ACTION:
                if stack:
                    stack.pop()
            else:
                stack.append(event)
        return stack

    def _apply_history(self, decision_id: str, *, bump: bool = True) -> None:
        stack = self._effective_events(decision_id)
        top = stack[-1] if stack else None
        Decision = self._m.Decision
        Decision.update(
            reviewed=int(top is not None),
            review_decision=top.review_decision if top else None,
            review_reasoning=top.review_reasoning if top else None,
            review_timestamp=top.timestamp if top else None,
            reviewer=top.reviewer if top else None,
            review_action=top.action if top else None,
            review_classification=top.review_classification if top else None,
            review_risk_level=top.review_risk_level if top else None,
        ).where(Decision.decision_id == decision_id).execute()
        if bump:
            self._bump_revision()

    def last_review(self, reviewer: str | None = None) -> ReviewEvent | None:
        """The newest non-undo review event still in effect (optionally by one reviewer)."""
        Review = self._m.Review
        query = Review.select(Review.decision_id).where(Review.action != UNDO_ACTION)
        if reviewer is not None:
            query = query.where(Review.reviewer == reviewer)
        for row in dict_rows(query.order_by(Review.id.desc()).limit(50)):
            events = self._effective_events(row["decision_id"])
            if events:
                return events[-1]
        return None

    # --- statistics -------------------------------------------------------------------

    @guarded_method
    def get_statistics(self) -> dict[str, Any]:
        """Counts, accuracy, decision distribution and training readiness.

        Keys: ``total``, ``reviewed``, ``unreviewed``, ``corrections``, ``accepted``,
        ``correct``, ``evaluated``, ``incorrect``, ``accuracy`` (None when nothing
        was evaluated), ``decision_distribution``, ``review_actions``,
        ``training_gate``, ``corrections_needed``, ``training_ready``, and ``runs``
        (status -> number of runs, e.g. ``{"completed": 3, "interrupted": 1}``).
        """
        Decision = self._m.Decision
        # One pass over the covering index idx_statistics; the few dozen groups are
        # summed here (twice as fast as CASE/SUM per row in SQL).
        query = Decision.select(
            Decision.decision, Decision.reviewed, Decision.review_action,
            Decision.decision_correct, pw.fn.COUNT(pw.SQL("*")),
        ).group_by(Decision.reviewed, Decision.decision_correct, Decision.review_action,
                   Decision.decision)
        totals = dict.fromkeys(("total", "reviewed", "corrections", "accepted", "correct",
                                "evaluated"), 0)
        distribution: dict[str, int] = {}
        actions: dict[str, int] = {}
        for decision, reviewed, action, correct, count in tuple_rows(query):
            distribution[decision] = distribution.get(decision, 0) + count
            totals["total"] += count
            if reviewed:
                totals["reviewed"] += count
            if action is not None:
                actions[action] = actions.get(action, 0) + count
                if action in CORRECTION_ACTIONS:
                    totals["corrections"] += count
                elif action == "accept":
                    totals["accepted"] += count
            if correct is not None:
                totals["evaluated"] += count
                if correct:
                    totals["correct"] += count
        corrections = totals["corrections"]
        Run = self._m.Run
        runs = {status: count for status, count in tuple_rows(Run.select(
            Run.status, pw.fn.COUNT(pw.SQL("*"))).group_by(Run.status))}
        return {
            "runs": dict(sorted(runs.items())),
            **totals,
            "unreviewed": totals["total"] - totals["reviewed"],
            "incorrect": totals["evaluated"] - totals["correct"],
            "accuracy": totals["correct"] / totals["evaluated"] if totals["evaluated"] else None,
            "decision_distribution": dict(sorted(distribution.items(), key=lambda kv: -kv[1])),
            "review_actions": actions,
            "training_gate": TRAINING_GATE,
            "corrections_needed": max(0, TRAINING_GATE - corrections),
            "training_ready": corrections >= TRAINING_GATE,
        }

    # --- runs -------------------------------------------------------------------------

    @guarded_method
    def start_run(self, **fields: Any) -> str:
        """Record the start of a scenario run; return its new ``run_id``.

        The run is owned by this process (host, pid, process start) unless the
        ``owner_*`` fields say otherwise, so that a run whose process dies is found
        and marked ``interrupted`` by the next open of the database.
        """
        started = now_iso()
        run_id = fields.pop("run_id", None) or (
            f"run_{make_decision_id(started)[4:19]}_{secrets.token_hex(3)}")
        for key in ("scenario_ids", "settings"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key], ensure_ascii=False)
        owner = current_process()
        fields.setdefault("owner_host", owner.host)
        fields.setdefault("owner_pid", owner.pid)
        fields.setdefault("owner_start", owner.start)
        with self.write_transaction():
            self._m.Run.insert(run_id=run_id, started=started, status="running",
                               heartbeat=started, **fields).execute()
            self._bump_revision()
        return run_id

    @guarded_method
    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        """Mark a run ``completed``, ``cancelled``, ``failed`` or ``interrupted``."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"unknown run status {status!r}")
        Run = self._m.Run
        with self.write_transaction():
            Run.update(finished=now_iso(), status=status, error=error,
                       summary=json.dumps(summary or {}, ensure_ascii=False)).where(
                Run.run_id == run_id).execute()
            self._bump_revision()

    def _beat(self, run_ids: Iterable[str]) -> None:
        """Note that running runs just logged something (their heartbeat)."""
        Run = self._m.Run
        Run.update(heartbeat=now_iso()).where(
            Run.run_id.in_(list(run_ids)) & (Run.status == "running")).execute()

    @guarded_method
    def close_abandoned_runs(self, *, stale_after: float = STALE_RUN_SECONDS) -> list[str]:
        """Mark ``running`` runs whose process is gone as ``interrupted``; return their ids.

        A run of this host is interrupted when its process has ended (a reused pid
        is told apart by the process start); a run of another host, or one without
        an owner, when it has logged nothing for ``stale_after`` seconds.
        """
        Run = self._m.Run
        running = dict_rows(Run.select(Run.run_id, Run.started, Run.owner_host, Run.owner_pid,
                                       Run.owner_start, Run.heartbeat).where(
            Run.status == "running"))
        if not running:
            return []
        now = datetime.now(UTC)
        reasons: dict[str, str] = {}
        for run in running:
            reason = _abandoned(run, now, stale_after)
            if reason is not None:
                reasons[run["run_id"]] = reason
        if not reasons:
            return []
        with self.write_transaction():
            for run_id, reason in reasons.items():
                Run.update(status="interrupted", finished=now_iso(), error=reason).where(
                    (Run.run_id == run_id) & (Run.status == "running")).execute()
            self._bump_revision()
        return list(reasons)

    @guarded_method
    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id (a unique prefix is enough), or None."""
        Run = self._m.Run
        matches = dict_rows(Run.select().where(Run.run_id == run_id).limit(1))
        if not matches:
            matches = dict_rows(Run.select().where(Run.run_id.startswith(run_id)).limit(2))
        return _run_record(matches[0]) if len(matches) == 1 else None

    @guarded_method
    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        Run = self._m.Run
        query = Run.select().order_by(Run.started.desc())
        if limit is not None:
            query = query.limit(limit)
        return [_run_record(row) for row in dict_rows(query)]

    @guarded_method
    def run_decisions(self, run_id: str) -> list[PolicyDecision]:
        """Decisions logged by one run, in the order they were made."""
        Decision = self._m.Decision
        query = Decision.select().where(Decision.run_id == run_id).order_by(
            Decision.timestamp, Decision.decision_id)
        return [from_row(row) for row in dict_rows(query)]


class _Batch:
    """Decisions about to be inserted, their column values, and which ids were generated."""

    def __init__(self) -> None:
        self.decisions: list[PolicyDecision] = []
        self.rows: list[list[Any]] = []
        self.generated: list[int] = []
        self._ids: set[str] = set()

    def add(self, decision: PolicyDecision, row: list[Any], generated: bool) -> None:
        """Append one prepared decision; a generated id taken inside the batch is redrawn."""
        if generated:
            assert decision.timestamp is not None
            attempt = 0
            while row[_ID] in self._ids:
                attempt += 1
                row[_ID] = decision.decision_id = _fresh_id(decision.timestamp, attempt)
            self.generated.append(len(self.rows))
        self._ids.add(row[_ID])
        self.decisions.append(decision)
        self.rows.append(row)


def _fresh_id(timestamp: str, attempt: int) -> str:
    """A new random id; after :data:`_ID_ATTEMPTS` tries with 8 hex digits, 16."""
    return make_decision_id(timestamp, secrets.token_hex(4 if attempt <= _ID_ATTEMPTS else 8))


def _event_of(decision: PolicyDecision) -> tuple[Any, ...]:
    return (decision.decision_id, decision.reviewer, decision.review_action,
            decision.review_decision, decision.review_reasoning,
            decision.review_timestamp or now_iso(), 0, decision.review_classification,
            decision.review_risk_level)


def _insert_statement(database: pw.Database, table: str, columns: Iterable[str]) -> str:
    """``INSERT INTO table (cols) VALUES (?, ...)`` in the database's quoting and paramstyle."""
    names = list(columns)
    quote = getattr(database, "quote", '""')
    opening, closing = quote[0], quote[-1]
    quoted = ", ".join(f"{opening}{name}{closing}" for name in names)
    params = ", ".join([database.param] * len(names))
    return f"INSERT INTO {opening}{table}{closing} ({quoted}) VALUES ({params})"


def _run_record(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], started=row["started"], finished=row["finished"],
        status=row["status"], model_name=row["model_name"], model_version=row["model_version"],
        model_path=row["model_path"], prompt_version=row["prompt_version"],
        scenario_file=row["scenario_file"],
        scenario_ids=json.loads(row["scenario_ids"]) if row["scenario_ids"] else [],
        settings=json.loads(row["settings"]) if row["settings"] else {},
        summary=json.loads(row["summary"]) if row["summary"] else {},
        error=row["error"],
        owner_host=row.get("owner_host"), owner_pid=row.get("owner_pid"),
        heartbeat=row.get("heartbeat"),
    )


def _abandoned(run: dict[str, Any], now: datetime, stale_after: float) -> str | None:
    """Why a ``running`` run is taken as interrupted, or None while it may be alive."""
    host, pid = run["owner_host"], run["owner_pid"]
    if host is not None and pid is not None:
        gone = is_gone(ProcessIdentity(host, int(pid), run["owner_start"]))
        if gone:
            return (f"interrupted: its process (pid {pid} on {host}) ended without finishing "
                    "the run (a crash, a kill or a power cut)")
        if gone is False:
            return None
    last = run["heartbeat"] or run["started"]
    try:
        age = (now - parse_timestamp(last)).total_seconds()
    except (TypeError, ValueError):
        return None
    if age < stale_after:
        return None
    where = f"on {host}" if host else "by an earlier version"
    return (f"interrupted: started {where} and nothing logged for {age / 3600:.0f} h "
            f"(since {last})")
