"""The team's shared review queue for one window, worked on the database thread.

The window claims a small batch for its reviewer (:class:`ReviewQueue.claim`), renews
the leases while the reviewer works (a timer, only after some activity: a reviewer who
leaves frees the batch when the lease runs out), and gives the claims back when it
stops working the queue (another view or filter, another database, the window closes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.assignments import Assignments, QueueCounts
from policy_desktop.store.review_queue import LEASE_SECONDS, NEXT, Claim, ReviewQueue
from policy_desktop.ui.tasks import DbExecutor

CLAIM_BATCH = 5
"""Decisions claimed at a time (small: a reviewer who leaves holds few)."""
RENEW_MS = 60_000
"""How often the leases are renewed while the reviewer works (a fifth of the lease)."""
RELEASE_TIMEOUT_S = 5.0
"""How long closing the window waits to give the claims back (then the leases lapse)."""


class QueueDesk(QObject):
    """The reviewer's claims (:attr:`claims`, in the queue's order) on the open database.

    Args:
        executor: the database thread.
        batch: decisions claimed at a time.
        renew_ms: the renewal timer's interval.
        lease_seconds: how long a claim lasts unless renewed.
        parent: the owner.

    Signals:
        current_changed(object): the claim to review now (a :class:`Claim`), or None
            when the queue has nothing (more) for this reviewer.
        counted(object): :class:`QueueCounts` after a claim (this reviewer's assigned
            decisions, the unassigned pool, other reviewers' queues).
        failed(str): a claim, renewal or release failed (what to tell the reviewer).
    """

    current_changed = Signal(object)
    counted = Signal(object)
    failed = Signal(str)

    def __init__(self, executor: DbExecutor, *, batch: int = CLAIM_BATCH,
                 renew_ms: int = RENEW_MS, lease_seconds: float = LEASE_SECONDS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._batch = batch
        self._lease_seconds = lease_seconds
        self.enabled = False  # the reviewer wants the team queue (Review → Team queue)
        self.reviewer: str | None = None  # set while working the queue
        self.claims: list[Claim] = []
        self.pool = NEXT  # which decisions: the reviewer's queue first, only it, or the pool
        self.counts: QueueCounts | None = None
        self._passed: set[str] = set()  # skipped: not handed out again this session
        self._generation = 0  # bumped by stop(): answers to older claims are dropped
        self._claiming = False
        self._worked = False  # something was reviewed or skipped since the last renewal
        self._queue: ReviewQueue | None = None  # used on the database thread only
        self._renew = QTimer(self)
        self._renew.setInterval(renew_ms)
        self._renew.timeout.connect(self._renew_if_worked)

    @property
    def active(self) -> bool:
        """Whether the window is working the queue now."""
        return self.reviewer is not None

    @property
    def claiming(self) -> bool:
        """Whether a claim is on its way (the batch is being filled)."""
        return self._claiming

    @property
    def current(self) -> Claim | None:
        """The claim to review now."""
        return self.claims[0] if self.claims else None

    def claim_of(self, decision_id: str | None) -> Claim | None:
        """This reviewer's claim on ``decision_id``, if any."""
        return next((c for c in self.claims if c.decision_id == decision_id), None)

    def _on_queue(self, log: PolicyDecisionLog) -> ReviewQueue:
        if self._queue is None or self._queue.log is not log:
            self._queue = ReviewQueue(log, lease_seconds=self._lease_seconds)
        return self._queue

    # --- working the queue ----------------------------------------------------------

    def start(self, reviewer: str) -> None:
        """Work the queue as ``reviewer``: claim a batch (nothing if already started)."""
        if self.reviewer == reviewer:
            return
        self.stop()
        self.reviewer = reviewer
        self._passed.clear()
        self._renew.start()
        self._claim_more()

    def set_pool(self, pool: str) -> None:
        """Claim from ``pool`` (``next``, ``mine``, ``unassigned``) from now on; the claims
        held are given back and the batch claimed again."""
        if pool == self.pool:
            return
        self.pool = pool
        reviewer = self.reviewer
        if reviewer is not None:
            self.stop()
            self.start(reviewer)

    def stop(self) -> None:
        """Give every claim back (in the background) and stop working the queue."""
        if self.reviewer is None:
            return
        reviewer, self.reviewer = self.reviewer, None
        self._generation += 1
        self._claiming = False
        self._renew.stop()
        self.claims = []

        def release(log: PolicyDecisionLog) -> int:
            return self._on_queue(log).release(reviewer)

        self._executor.submit(release, None, lambda e: self.failed.emit(
            f"Could not give the team queue's claims back: {e} (they lapse by themselves)"))
        self.current_changed.emit(None)

    def stop_now(self) -> None:
        """Give every claim back before the window goes (waits a few seconds at most)."""
        if self.reviewer is None or self._executor.closed:
            return
        reviewer, self.reviewer = self.reviewer, None
        self._generation += 1
        self._renew.stop()
        self.claims = []
        with contextlib.suppress(Exception):  # unreachable: the leases lapse by themselves
            self._executor.call(lambda log: self._on_queue(log).release(reviewer),
                                RELEASE_TIMEOUT_S)

    def write_job(self, claim: Claim, arguments: dict[str, Any]
                  ) -> Callable[[PolicyDecisionLog], str]:
        """The database job that saves the review of ``claim`` through the queue (it
        raises ``ClaimLostError`` or ``ReviewedMeanwhileError`` when refused)."""
        def job(log: PolicyDecisionLog) -> str:
            return self._on_queue(log).submit(claim, **arguments)

        return job

    def done_with(self, decision_id: str, *, skipped: bool = False) -> None:
        """``decision_id`` was reviewed (or skipped: given back, not handed out again);
        on to the next claim, claiming more when the batch is used up."""
        self._worked = True
        claim = self.claim_of(decision_id)
        if claim is None:
            return
        self.claims.remove(claim)
        if skipped and self.reviewer is not None:
            self._passed.add(decision_id)
            reviewer = self.reviewer
            self._executor.submit(
                lambda log: self._on_queue(log).release(reviewer, [decision_id]), None,
                lambda e: self.failed.emit(f"Could not give {decision_id} back: {e}"))
        if self.claims:
            self.current_changed.emit(self.current)
        else:
            self._claim_more()

    def _claim_more(self) -> None:
        if self.reviewer is None or self._claiming:
            return
        self._claiming = True
        reviewer, generation, passed = self.reviewer, self._generation, set(self._passed)
        pool = self.pool

        def job(log: PolicyDecisionLog) -> tuple[list[Claim], QueueCounts]:
            claims = self._on_queue(log).claim(reviewer, self._batch, skip=passed, pool=pool)
            return claims, Assignments(log).counts(reviewer)

        def claimed(outcome: tuple[list[Claim], QueueCounts]) -> None:
            if generation != self._generation:
                return  # stopped meanwhile: the release queued after this claim frees them
            self._claiming = False
            self.claims, self.counts = outcome
            self.counted.emit(self.counts)
            self.current_changed.emit(self.current)

        def failed(error: BaseException) -> None:
            if generation == self._generation:
                self._claiming = False
                self.failed.emit(f"Could not claim from the team queue: {error}")
                self.current_changed.emit(None)

        self._executor.submit(job, claimed, failed)

    def recount(self) -> None:
        """Count the pools again (reviews or assignments changed) while working the queue."""
        if self.reviewer is None:
            return
        reviewer, generation = self.reviewer, self._generation

        def counted(counts: QueueCounts) -> None:
            if generation == self._generation:
                self.counts = counts
                self.counted.emit(counts)

        self._executor.submit(lambda log: Assignments(log).counts(reviewer), counted,
                              lambda e: self.failed.emit(f"Cannot count the queue: {e}"))

    def _renew_if_worked(self) -> None:
        if self.reviewer is None or not self._worked:
            return
        self._worked = False
        reviewer = self.reviewer
        self._executor.submit(lambda log: self._on_queue(log).renew(reviewer), None,
                              lambda e: self.failed.emit(f"Could not renew the claims: {e}"))
