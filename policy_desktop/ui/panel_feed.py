"""Feeds the review panel the selected decision, reading the next one ahead.

The panel shows the full record and its review history, read on the database
thread. While the reviewer looks at one decision, the next row's details are
read ahead, so after a review the next decision appears without a round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from policy_desktop.store import PolicyDecision, PolicyDecisionLog, ReviewEvent
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.decisions_model import DecisionsModel
from policy_desktop.ui.tasks import DbExecutor

Details = tuple[PolicyDecision | None, list[ReviewEvent]]
READ_AHEAD = 3
"""Decisions after the shown one kept read: a fast reviewer's keys never wait for a read."""


def details_job(decision_id: str) -> Callable[[PolicyDecisionLog], Details]:
    """A database job reading one decision and its review history."""
    def job(log: PolicyDecisionLog) -> Details:
        return log.get_decision(decision_id), log.get_review_history(decision_id)

    return job


class PanelFeed(QObject):
    """Shows decisions in the review panel by id.

    Args:
        executor: the database thread.
        model: the table rows (to know which decision comes next).
        panel: the review panel (``show_decision(decision, history)``).
        report: shows a one-line problem to the reviewer.
        parent: the owner.

    Signals:
        displayed(): the panel now shows :attr:`shown_id`.
        display_failed(str): the selected decision could not be read.
    """

    displayed = Signal()
    display_failed = Signal(str)

    def __init__(self, executor: DbExecutor, model: DecisionsModel, panel: Any,
                 report: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._model = model
        self._panel = panel
        self._report = report
        self.shown_id: str | None = None
        self.shown_decision: PolicyDecision | None = None
        self.read_ahead: dict[str, Details] = {}
        self._follow_up: Callable[[], None] | None = None
        self._loading_id: str | None = None
        self._reading: set[str] = set()  # read-ahead jobs still on the database thread

    @property
    def loading(self) -> bool:
        """True while the panel still draws another decision than the one selected."""
        return self._loading_id is not None

    def show(self, decision_id: str | None, *, force: bool = False) -> None:
        """Show ``decision_id`` (None: nothing); ``force`` reads it again even if shown."""
        if decision_id == self.shown_id and not force:
            return
        self.shown_id = decision_id
        self._loading_id = None
        if decision_id is None:
            self._display((None, []))
            self._run_follow_up()
            return
        cached = None if force else self.read_ahead.pop(decision_id, None)
        if cached is not None:
            self._read_ahead_after(decision_id)
            self._display(cached)
            QTimer.singleShot(0, self._run_follow_up)  # after the panel is painted
            return

        def loaded(details: Details) -> None:
            if decision_id == self.shown_id:
                self._loading_id = None
                self._read_ahead_after(decision_id)  # before keys waiting for it move on
                self._display(details)
            self._run_follow_up()

        def failed(error: BaseException) -> None:
            if decision_id == self.shown_id:
                self._loading_id = None
                self.display_failed.emit(str(error))
            self._report(f"Cannot read the decision: {error}")
            self._run_follow_up()

        self._loading_id = decision_id
        self._executor.submit(details_job(decision_id), loaded, failed)

    def show_record(self, decision: PolicyDecision, history: list[ReviewEvent] | None = None
                    ) -> None:
        """Show ``decision`` as given, not as stored (a blind second opinion: without the
        first review), with ``history`` (none by default)."""
        assert decision.decision_id is not None
        self.shown_id = decision.decision_id
        self._loading_id = None
        self.read_ahead.pop(decision.decision_id, None)
        self._display((decision, list(history or [])))
        self._run_follow_up()

    def after_next_show(self, follow_up: Callable[[], None]) -> None:
        """Run ``follow_up`` once the next :meth:`show` has put its decision on screen.

        Work that can wait (re-reading the table) then does not compete with the
        decision the reviewer is waiting for (the worker and the GUI share the GIL).
        """
        self._follow_up = follow_up

    def run_pending(self) -> None:
        """Run a waiting follow-up now (nothing new is going to be shown)."""
        self._run_follow_up()

    def forget(self, decision_id: str | None = None) -> None:
        """Drop what was read ahead (for one decision, or all after outside writes)."""
        if decision_id is None:  # reads still under way were started before: stale
            self.read_ahead.clear()
            self._reading.clear()
        else:
            self.read_ahead.pop(decision_id, None)
            self._reading.discard(decision_id)

    def apply(self, changes: Changes) -> None:
        """Subscriber of the window's ``changed``: after an outside change (or another
        database) nothing read ahead can be trusted. The window's own writes forget
        their decisions when they are made."""
        if changes.unknown:
            self.forget()

    def _display(self, details: Details) -> None:
        self._panel.show_decision(*details)
        self.shown_decision = details[0]
        self.displayed.emit()

    def _read_ahead_after(self, decision_id: str) -> None:
        row = self._model.row_of(decision_id)
        wanted = [self._model.decision_id(row + step) for step in range(1, READ_AHEAD + 1)]
        keep_ids = {following for following in wanted if following is not None}
        self.read_ahead = {k: v for k, v in self.read_ahead.items() if k in keep_ids}
        for following in wanted:
            if following is None or following in self.read_ahead \
                    or following in self._reading:
                continue
            self._reading.add(following)

            def keep(details: Details, key: str = following) -> None:
                if key not in self._reading:
                    return  # forgotten meanwhile (a write or an outside change): stale
                self._reading.discard(key)
                self.read_ahead[key] = details
                if len(self.read_ahead) > READ_AHEAD:  # the oldest entries go first
                    for old in list(self.read_ahead)[:len(self.read_ahead) - READ_AHEAD]:
                        del self.read_ahead[old]

            def dropped(_error: BaseException, key: str = following) -> None:
                self._reading.discard(key)

            self._executor.submit(details_job(following), keep, dropped)

    def _run_follow_up(self) -> None:
        follow_up, self._follow_up = self._follow_up, None
        if follow_up is not None:
            follow_up()
