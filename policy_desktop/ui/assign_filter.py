"""Review → Assign this filter to…: delegate the unreviewed decisions the table's filter
selects to one named reviewer's queue (the store's assigned queues)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.assignments import Assignments, AssignResult, describe_filter
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.team import ReviewTeam
from policy_desktop.ui.tasks import DbExecutor
from policy_desktop.ui.window_dialogs import WindowDialogs


def result_text(result: AssignResult) -> str:
    """What an assignment did, in a sentence or three."""
    who = result.assignment.reviewer
    lines = [f"{result.assigned:,} decision{'s' if result.assigned != 1 else ''} put in "
             f"{who}'s queue."]
    held = ", ".join(f"{count:,} in {name}'s" for name, count in result.held_by_others.items())
    if held:
        lines.append(f"Already in a queue, left there: {held}.")
    withdrawn = result.claims_withdrawn
    if withdrawn:
        lines.append(f"{withdrawn:,} claim{'s' if withdrawn != 1 else ''} by other reviewers "
                     "withdrawn (their reviews of those are refused).")
    return "\n".join(lines)


class AssignFilter(QObject):
    """Asks for a reviewer, then assigns on the database thread and says what happened.

    Signals:
        assigned(): an assignment was made (queues changed).
    """

    assigned = Signal()

    def __init__(self, executor: DbExecutor, window: QWidget, dialogs: WindowDialogs,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._window = window
        self._dialogs = dialogs

    def ask(self, flt: DecisionFilter, by: str) -> None:
        """Offer the known reviewers (any name may be typed) for ``flt``'s decisions."""
        def names(log: PolicyDecisionLog) -> list[str]:
            return ReviewTeam(log).reviewers()

        self._executor.submit(names, lambda known: self._choose(known, flt, by),
                              lambda error: self._failed(str(error)))

    def _choose(self, known: list[str], flt: DecisionFilter, by: str) -> None:
        name, ok = QInputDialog.getItem(
            self._window, "Assign to a reviewer",
            f"Put the unreviewed decisions of this filter ({describe_filter(flt)}) that are "
            "in nobody's queue into the queue of:", known, 0, True)
        if ok and name.strip():
            self._assign(name.strip(), flt, by)

    def _assign(self, reviewer: str, flt: DecisionFilter, by: str) -> None:
        def job(log: PolicyDecisionLog) -> AssignResult:
            return Assignments(log).assign(reviewer, flt, by=by)

        def done(result: AssignResult) -> None:
            self._dialogs.message(QMessageBox.Icon.Information, "Assigned",
                                  result_text(result))
            self.assigned.emit()

        self._executor.submit(job, done, lambda error: self._failed(str(error)))

    def _failed(self, reason: str) -> None:
        self._dialogs.message(QMessageBox.Icon.Warning, "Cannot assign",
                              "The decisions could not be assigned.", reason)
