"""A shared review queue: reviewers claim decisions in small batches under a lease.

A claim is a row of ``review_claims`` keyed by (decision, slot); inserting it is the
claim, so two reviewers can never hold one slot (an ``INSERT … ON CONFLICT`` that only
takes over a lapsed, unfinished lease). PostgreSQL picks candidates with
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent reviewers pass each other instead of
queueing; SQLite runs each claim as one ``BEGIN IMMEDIATE`` transaction.

A configurable share of decisions (the overlap sample, chosen by a hash of the id) gets
a second, blind review: slot 1 goes to a reviewer other than the first, and the
decision is handed over without the first review's answer.

Queues can be assigned (:mod:`~policy_desktop.store.assignments`): a claim from the
``next`` pool takes the reviewer's own assigned decisions first, then the unassigned
pool; ``mine`` only the assigned ones, ``unassigned`` only the pool. A decision in
Ann's queue is never handed to Bob (on PostgreSQL claims hold an advisory lock shared
that a change of assignments takes exclusively, so neither sees the other half-done).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import peewee as pw

from policy_desktop.store.decision import PolicyDecision
from policy_desktop.store.errors import ClaimLostError, ReviewedMeanwhileError, StoreError
from policy_desktop.store.failures import guarded_method
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.team_tables import (
    ASSIGN_LOCK_KEY,
    create_team_tables,
    has_team_tables,
)

LEASE_SECONDS = 300.0
"""How long a claim lasts without renewal (a reviewer who leaves frees it by then)."""
BATCH = 5
OVERLAP_KEY = "overlap_percent"
DEFAULT_OVERLAP_PERCENT = 10.0
_DEADLOCK_RETRIES = 5
NEXT = "next"
"""The reviewer's assigned decisions first, then the unassigned pool (the default)."""
MINE = "mine"
"""Only decisions assigned to the reviewer ("my queue")."""
UNASSIGNED = "unassigned"
"""Only decisions in nobody's queue (and the overlap sample's second opinions)."""
POOLS: tuple[str, ...] = (NEXT, MINE, UNASSIGNED)
_IN_NOBODYS_QUEUE = ("NOT EXISTS (SELECT 1 FROM decision_assignments a "
                     "WHERE a.decision_id = {column})")


def in_overlap(decision_id: str, percent: float) -> bool:
    """Whether a decision belongs to the overlap sample (stable: a hash of its id)."""
    bucket = int(hashlib.sha256(decision_id.encode()).hexdigest()[:8], 16) % 10_000
    return bucket < round(percent * 100)


def overlap_percent(log: PolicyDecisionLog) -> float:
    """The log's overlap sample in % (read only; the default until someone sets it)."""
    Meta = log.models.Meta
    row = Meta.get_or_none(Meta.key == OVERLAP_KEY)
    return float(row.value) if row else DEFAULT_OVERLAP_PERCENT


@dataclass(frozen=True)
class Claim:
    """A decision handed to one reviewer; ``decision`` shows no earlier review when blind."""

    decision: PolicyDecision
    slot: int
    reviewer: str
    expires: float

    @property
    def decision_id(self) -> str:
        assert self.decision.decision_id is not None
        return self.decision.decision_id

    @property
    def second_opinion(self) -> bool:
        """True for the blind second review of the overlap sample."""
        return self.slot == 1


def _blind(decision: PolicyDecision) -> PolicyDecision:
    """The decision without any earlier human review (the model's answer stays)."""
    return replace(decision, reviewed=False, review_decision=None, review_reasoning=None,
                   review_timestamp=None, reviewer=None, review_action=None,
                   review_classification=None, review_risk_level=None)


class ReviewQueue:
    """The team's queue on one decision log.

    Args:
        log: the open decision log.
        lease_seconds: how long a claim lasts unless renewed.
        clock: seconds since the epoch (tests pass a fake one to expire leases).
    """

    def __init__(self, log: PolicyDecisionLog, *, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], float] | None = None) -> None:
        self.log = log
        self.lease_seconds = lease_seconds
        self._clock = clock or time.time
        self._db = log.database
        self._p = self._db.param
        self._server = isinstance(self._db, pw.PostgresqlDatabase)
        if not log.read_only and not has_team_tables(self._db):
            with log.write_transaction():
                create_team_tables(self._db)

    @property
    def display_name(self) -> str:
        """The log's name with any password masked (for failure messages)."""
        return self.log.display_name

    # --- settings ------------------------------------------------------------------------

    def overlap_percent(self) -> float:
        """The share of decisions (in %) that go to two reviewers."""
        return overlap_percent(self.log)

    @guarded_method
    def set_overlap_percent(self, percent: float) -> None:
        """Change the overlap sample for decisions claimed from now on (0 to 100)."""
        if not 0 <= percent <= 100:
            raise StoreError(f"the overlap must be between 0 and 100 %, not {percent}")
        Meta = self.log.models.Meta
        with self.log.write_transaction():
            if not Meta.update(value=str(percent)).where(Meta.key == OVERLAP_KEY).execute():
                Meta.insert(key=OVERLAP_KEY, value=str(percent)).execute()

    # --- claiming ------------------------------------------------------------------------

    @guarded_method
    def claim(self, reviewer: str, count: int = BATCH, *,
              skip: Collection[str] = (), pool: str = NEXT) -> list[Claim]:
        """Up to ``count`` decisions for ``reviewer``: their unfinished claims first
        (renewed), then unreviewed ones assigned to them, then second opinions of the
        overlap sample, then unassigned unreviewed ones, each newest first (the seed's
        review order); ``pool`` narrows this (:data:`MINE`, :data:`UNASSIGNED`).
        Decisions in another reviewer's queue are never handed out.
        ``skip``: ids the reviewer passed over."""
        if not reviewer.strip():
            raise StoreError("a reviewer name is needed to claim decisions")
        if pool not in POOLS:
            raise StoreError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
        for attempt in range(_DEADLOCK_RETRIES):
            try:
                return self._claim_once(reviewer, count, list(skip), pool)
            except pw.OperationalError as error:  # PostgreSQL picked this claim to undo
                if "deadlock" not in str(error) or attempt == _DEADLOCK_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _claim_once(self, reviewer: str, count: int, skip: list[str],
                    pool: str) -> list[Claim]:
        now = self._clock()
        expires = now + self.lease_seconds
        percent = self.overlap_percent()
        transaction = self._db.atomic() if self._server else self.log.write_transaction()
        with transaction:
            if self._server:  # assignments cannot change until this claim commits
                self._db.execute_sql("SELECT pg_advisory_xact_lock_shared(%s)",
                                     (ASSIGN_LOCK_KEY,))
            self._register(reviewer)
            slots = [slot for slot in self._renew(reviewer, expires)
                     if slot[0] not in skip and self._in_pool(slot, reviewer, pool)]
            if len(slots) < count and pool in (NEXT, MINE):
                slots += self._take_first_reviews(reviewer, count - len(slots), now, expires,
                                                  percent, skip, assigned_to=reviewer)
            if len(slots) < count and pool in (NEXT, UNASSIGNED):
                slots += self._take_second_opinions(reviewer, count - len(slots), now, expires,
                                                    skip)
            if len(slots) < count and pool in (NEXT, UNASSIGNED):
                slots += self._take_first_reviews(reviewer, count - len(slots), now, expires,
                                                  percent, skip)
        decisions = self.log.get_decisions(decision_id for decision_id, _ in slots)
        claims = []
        for decision_id, slot in slots:
            decision = decisions.get(decision_id)
            if decision is not None:
                shown = _blind(decision) if slot == 1 else decision
                claims.append(Claim(shown, slot, reviewer, expires))
        # Newest first within the batch, as the seed reviews (a total order: ids break ties).
        claims.sort(key=lambda c: (c.decision.timestamp or "", c.decision_id), reverse=True)
        return claims

    def _register(self, reviewer: str) -> None:
        self._db.execute_sql(
            f"INSERT INTO reviewers (name, added) VALUES ({self._p}, {self._p}) "
            "ON CONFLICT (name) DO NOTHING",
            (reviewer, datetime.now(UTC).isoformat()))

    def _renew(self, reviewer: str, expires: float) -> list[tuple[str, int]]:
        p = self._p
        cursor = self._db.execute_sql(
            f"UPDATE review_claims SET expires = {p} WHERE reviewer = {p} AND done = 0 "
            "RETURNING decision_id, slot", (expires, reviewer))
        return sorted((row[0], row[1]) for row in cursor.fetchall())

    def _in_pool(self, slot: tuple[str, int], reviewer: str, pool: str) -> bool:
        """Whether one of the reviewer's renewed claims belongs to the pool asked for."""
        if pool == NEXT:
            return True
        decision_id, number = slot
        if number == 1:  # a second opinion is nobody's assignment
            return pool == UNASSIGNED
        row = self._db.execute_sql(
            f"SELECT reviewer FROM decision_assignments WHERE decision_id = {self._p}",
            (decision_id,)).fetchone()
        return (row is not None and row[0] == reviewer) if pool == MINE else row is None

    def _lock_clause(self, table: str) -> str:
        return f" FOR UPDATE OF {table} SKIP LOCKED" if self._server else ""

    def _skipping(self, column: str, skip: list[str]) -> str:
        return f" AND {column} NOT IN ({', '.join([self._p] * len(skip))})" if skip else ""

    def _take_second_opinions(self, reviewer: str, count: int, now: float,
                              expires: float, skip: list[str]) -> list[tuple[str, int]]:
        p = self._p
        candidates = [row[0] for row in self._db.execute_sql(
            "SELECT c.decision_id FROM review_claims c "
            f"WHERE c.slot = 0 AND c.overlap = 1 AND c.done = 1 AND c.reviewer <> {p} "
            "AND NOT EXISTS (SELECT 1 FROM review_claims s WHERE s.decision_id = c.decision_id "
            f"AND s.slot = 1 AND (s.done = 1 OR s.expires > {p}))"
            + self._skipping("c.decision_id", skip)
            + f" ORDER BY c.claimed, c.decision_id LIMIT {p}" + self._lock_clause("c"),
            (reviewer, now, *skip, count)).fetchall()]
        return self._insert_claims(candidates, 1, reviewer, now, expires, overlap=1)

    def _take_first_reviews(self, reviewer: str, count: int, now: float, expires: float,
                            percent: float, skip: list[str], *,
                            assigned_to: str | None = None) -> list[tuple[str, int]]:
        """Unreviewed decisions nobody holds: in ``assigned_to``'s queue, or (None) in
        nobody's queue."""
        p = self._p
        if assigned_to is None:
            source = "FROM decisions d WHERE d.reviewed = 0 AND " + _IN_NOBODYS_QUEUE.format(
                column="d.decision_id")
            params: tuple[object, ...] = (now, *skip, count)
        else:
            source = ("FROM decision_assignments a JOIN decisions d "
                      f"ON d.decision_id = a.decision_id WHERE a.reviewer = {p} "
                      "AND d.reviewed = 0")
            params = (assigned_to, now, *skip, count)
        candidates = [row[0] for row in self._db.execute_sql(
            f"SELECT d.decision_id {source} "
            "AND NOT EXISTS (SELECT 1 FROM review_claims c WHERE c.decision_id = d.decision_id "
            f"AND c.slot = 0 AND c.done = 0 AND c.expires > {p})"
            + self._skipping("d.decision_id", skip)
            + f" ORDER BY d.timestamp DESC, d.decision_id DESC LIMIT {p}"
            + self._lock_clause("d"),
            params).fetchall()]
        taken: list[tuple[str, int]] = []
        for overlap in (0, 1):
            chosen = [c for c in candidates if in_overlap(c, percent) == bool(overlap)]
            taken += self._insert_claims(chosen, 0, reviewer, now, expires, overlap=overlap)
        return sorted(taken)

    def _insert_claims(self, decision_ids: list[str], slot: int, reviewer: str, now: float,
                       expires: float, *, overlap: int) -> list[tuple[str, int]]:
        """Claim each slot that is free or whose holder's lease lapsed unfinished
        (an undone review frees slot 0 again); return the slots actually won."""
        p = self._p
        won: list[tuple[str, int]] = []
        reopen = "review_claims.done = 0 AND review_claims.expires <= EXCLUDED.claimed"
        if slot == 0:  # a first review undone since: the decision is unreviewed again
            reopen = f"({reopen}) OR review_claims.done = 1"
        for decision_id in sorted(decision_ids):
            row = self._db.execute_sql(
                "INSERT INTO review_claims (decision_id, slot, reviewer, overlap, claimed, "
                f"expires, done) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, 0) "
                "ON CONFLICT (decision_id, slot) DO UPDATE SET reviewer = EXCLUDED.reviewer, "
                "overlap = EXCLUDED.overlap, claimed = EXCLUDED.claimed, "
                f"expires = EXCLUDED.expires, done = 0 WHERE {reopen} RETURNING decision_id",
                (decision_id, slot, reviewer, overlap, now, expires)).fetchone()
            if row is not None:
                won.append((decision_id, slot))
        return won

    @guarded_method
    def renew(self, reviewer: str) -> int:
        """Extend the reviewer's unfinished claims by a lease; return how many."""
        with self._db.atomic() if self._server else self.log.write_transaction():
            return len(self._renew(reviewer, self._clock() + self.lease_seconds))

    @guarded_method
    def release(self, reviewer: str, decision_ids: Collection[str] | None = None) -> int:
        """Give back the reviewer's unfinished claims (all when leaving, else those of
        ``decision_ids``); return how many."""
        ids = list(decision_ids) if decision_ids is not None else []
        if decision_ids is not None and not ids:
            return 0
        only = self._skipping("decision_id", ids).replace(" NOT IN ", " IN ")
        with self._db.atomic() if self._server else self.log.write_transaction():
            cursor = self._db.execute_sql(
                f"DELETE FROM review_claims WHERE reviewer = {self._p} AND done = 0" + only,
                (reviewer, *ids))
            return cursor.rowcount

    # --- reviewing -----------------------------------------------------------------------

    @guarded_method
    def submit(self, claim: Claim, review_decision: str | None = None,
               review_reasoning: str | None = None, **labels: Any) -> str:
        """Save the review of a claimed decision; return the action.

        ``labels`` go to :meth:`PolicyDecisionLog.mark_reviewed` as they are (e.g.
        ``blind_decision``, and whatever review fields the log accepts), so the queue
        never needs to list the review form's fields.

        The claim is checked and closed in the same write transaction as the review
        (history event and columns), so a review is saved exactly when its claim
        held. A lapsed lease nobody took over still holds; one taken over raises
        :class:`ClaimLostError` and nothing is saved; a first review made meanwhile
        outside the queue raises :class:`ReviewedMeanwhileError` (that review stands).
        """
        p = self._p
        meanwhile: ReviewedMeanwhileError | None = None
        with self.log.write_transaction():
            if self._server:  # the decision row first: the order every claimer locks in
                self._db.execute_sql(
                    f"SELECT 1 FROM decisions WHERE decision_id = {p} FOR UPDATE",
                    (claim.decision_id,))
            closed = self._db.execute_sql(
                f"UPDATE review_claims SET done = 1 WHERE decision_id = {p} AND slot = {p} "
                f"AND reviewer = {p} AND done = 0 RETURNING decision_id",
                (claim.decision_id, claim.slot, claim.reviewer)).fetchone()
            if closed is None:
                holder = self._db.execute_sql(
                    f"SELECT reviewer FROM review_claims WHERE decision_id = {p} AND slot = {p}",
                    (claim.decision_id, claim.slot)).fetchone()
                raise ClaimLostError(claim.decision_id, claim.reviewer,
                                     holder[0] if holder and holder[0] != claim.reviewer
                                     else None)
            current = self.log.get_decision(claim.decision_id)
            if claim.slot == 0 and current is not None and current.reviewed:
                # Reviewed without a claim since it was handed out: the claim is closed
                # (committed) and the conflict reported; the other review stands.
                meanwhile = ReviewedMeanwhileError(claim.decision_id, claim.reviewer,
                                                   current.reviewer, current.review_timestamp)
            else:
                return self.log.mark_reviewed(claim.decision_id, review_decision,
                                              review_reasoning, claim.reviewer, **labels)
        assert meanwhile is not None
        raise meanwhile

    @guarded_method
    def pending(self) -> dict[str, int]:
        """Work left: ``unreviewed`` decisions, ``second_opinions`` of the overlap sample
        still to give, and live ``claimed`` slots."""
        p = self._p
        now = self._clock()
        unreviewed = self._db.execute_sql(
            "SELECT COUNT(*) FROM decisions WHERE reviewed = 0").fetchone()[0]
        second = self._db.execute_sql(
            "SELECT COUNT(*) FROM review_claims c WHERE c.slot = 0 AND c.overlap = 1 "
            "AND c.done = 1 AND NOT EXISTS (SELECT 1 FROM review_claims s "
            "WHERE s.decision_id = c.decision_id AND s.slot = 1 AND s.done = 1)").fetchone()[0]
        claimed = self._db.execute_sql(
            f"SELECT COUNT(*) FROM review_claims WHERE done = 0 AND expires > {p}",
            (now,)).fetchone()[0]
        return {"unreviewed": int(unreviewed), "second_opinions": int(second),
                "claimed": int(claimed)}

    def finished(self) -> bool:
        """True when every decision has all the reviews it needs."""
        left = self.pending()
        return left["unreviewed"] == 0 and left["second_opinions"] == 0
