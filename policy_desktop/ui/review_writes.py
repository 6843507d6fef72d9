"""The window's review writes on the database thread, and the one ``changed`` signal.

Reviews, undos and "accept all selected" are queued on the database thread and the
window moves on at once. :class:`ReviewWrites` keeps the :class:`ReviewSession` (undo,
the write guard) up to date as they return and, once the last write in flight is back,
emits what they changed as one :class:`Changes` (ten quick reviews: one re-read, not
ten). Outside changes, imports and opening a database are published through it too,
so everything that shows data subscribes to ``changed`` in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.review_session import ReviewSession
from policy_desktop.ui.tasks import DbExecutor

SAVED_MS = 2500


class ReviewWrites(QObject):
    """Writes reviews and publishes what changed.

    Args:
        executor: the database thread.
        hold: while it returns True (review keys wait for their decision), the re-read
            after the writes waits too: it would sit on the database thread between the
            keys and their decisions. Call :meth:`keys_drained` when it turns False.
        parent: the owner.

    Signals:
        changed(Changes): what to re-read (after the last write in flight, an outside
            change, an import, another database).
        written(str, str): a review of this window is stored (decision id, action).
        undone(str): a review of this window was taken back (decision id).
        reselect(str): select this decision once the rows are re-read (an undo, or a
            review that was not saved).
        notice(str, int): a status line and how long it shows (ms).
        failed(str, str, str): a write was not saved (title, text, details).
        conflicted(str, str): a review was refused because of someone else's claim or
            review (decision id, the reason); the window has moved on.
    """

    changed = Signal(object)
    written = Signal(str, str)
    undone = Signal(str)
    reselect = Signal(str)
    notice = Signal(str, int)
    failed = Signal(str, str, str)
    conflicted = Signal(str, str)

    def __init__(self, executor: DbExecutor, hold: Callable[[], bool] = lambda: False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._hold = hold
        self._held = False
        self.session = ReviewSession()

    # --- publishing ------------------------------------------------------------------

    def publish(self, changes: Changes) -> None:
        """Tell every subscriber about ``changes`` now (nothing when empty)."""
        if changes.opened:
            self.session.clear()
        if not changes.empty:
            self.changed.emit(changes)

    def settle(self) -> None:
        """Publish what the finished writes changed once none is in flight and no key
        waits (else when the last one returns, or the keys ran)."""
        if self.session.busy:
            return
        if self._hold():
            self._held = True
            return
        self._held = False
        self.publish(self.session.take_changes())

    def keys_drained(self) -> None:
        """The waiting keys ran: the re-read they held back may go now."""
        if self._held:
            self.settle()

    # --- writing ---------------------------------------------------------------------

    def writing(self, decision_id: str) -> bool:
        """Whether a review of ``decision_id`` is on its way to the database."""
        return self.session.writing(decision_id)

    def review(self, decision_id: str, reviewer: str, arguments: dict[str, Any],
               write: Callable[[PolicyDecisionLog], str] | None = None,
               conflicts: tuple[type[BaseException], ...] = ()) -> bool:
        """Record a review of ``decision_id`` (``mark_reviewed(decision_id,
        reviewer=…, **arguments)``, or ``write(log)`` when given) in the background;
        False (nothing queued) while a review of it is still on its way.

        An error of a ``conflicts`` type is a review refused for someone else's claim
        or review: told as ``conflicted``, not as a failure to select again."""
        if not self.session.begin([decision_id]):
            return False

        def not_saved(error: BaseException) -> None:
            if isinstance(error, conflicts):
                self.session.failed([decision_id])
                self.settle()
                self.conflicted.emit(decision_id, str(error))
            else:
                self._not_saved(decision_id, error)


        def job(log: PolicyDecisionLog) -> str:
            if write is not None:
                return write(log)
            return log.mark_reviewed(decision_id, reviewer=reviewer, **arguments)

        self._executor.submit(job, lambda action: self._reviewed(decision_id, action),
                              not_saved)
        return True

    def _reviewed(self, decision_id: str, action: str) -> None:
        self.session.written([decision_id])
        self.written.emit(decision_id, action)
        self.notice.emit(f"Saved: {action.replace('_', ' ')}", SAVED_MS)
        self.settle()

    def _not_saved(self, decision_id: str, error: BaseException) -> None:
        self.session.failed([decision_id])
        self.reselect.emit(decision_id)
        self.settle()
        self.failed.emit("Review not saved",
                         f"The review of {decision_id} could not be saved.", str(error))

    def accept_all(self, decision_ids: list[str], reviewer: str) -> list[str]:
        """Accept each decision as its own review; return those queued (not in flight)."""
        ids = self.session.begin(decision_ids)

        def job(log: PolicyDecisionLog) -> tuple[list[str], str | None]:
            written: list[str] = []
            for decision_id in ids:
                try:
                    log.mark_reviewed(decision_id, None, None, reviewer)
                except Exception as error:  # the rest stays unreviewed, and is told
                    return written, f"{decision_id}: {error}"
                written.append(decision_id)
            return written, None

        def done(outcome: tuple[list[str], str | None]) -> None:
            written, problem = outcome
            self.session.written(written)
            self.session.failed(ids[len(written):])
            for decision_id in written:
                self.written.emit(decision_id, "accept")
            self.notice.emit(f"Accepted {len(written):,} decisions", SAVED_MS)
            self.settle()
            if problem is not None:
                self.failed.emit("Not every review was saved",
                                 f"{len(written):,} of {len(ids):,} accepted; the rest was "
                                 "not saved.", problem)

        self._executor.submit(job, done)
        return ids

    def undo(self, reviewer: str | None) -> str | None:
        """Take back the last review of this window; return its id (None: nothing)."""
        if not self.session.can_undo:
            return None
        decision_id = self.session.begin_undo()

        def job(log: PolicyDecisionLog) -> PolicyDecision:
            return log.undo_review(decision_id, reviewer)

        def undone(_decision: PolicyDecision) -> None:
            self.session.undo_ended(decision_id)
            self.undone.emit(decision_id)
            self.reselect.emit(decision_id)
            self.settle()
            self.notice.emit("Review undone (the history keeps both entries)", SAVED_MS)

        def failed(error: BaseException) -> None:
            self.session.undo_ended(decision_id)
            self.settle()
            self.failed.emit("Cannot undo",
                             f"The review of {decision_id} could not be undone.", str(error))

        self._executor.submit(job, undone, failed)
        return decision_id
