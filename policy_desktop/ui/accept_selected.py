"""Review → Accept all selected…: which selected rows can be accepted, and the question."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from policy_desktop.ui.decisions_table import DecisionsTable
from policy_desktop.ui.panel_feed import PanelFeed
from policy_desktop.ui.review_writes import ReviewWrites
from policy_desktop.ui.window_dialogs import WindowDialogs


def accept_candidates(table: DecisionsTable,
                      writing: Callable[[str], bool]) -> tuple[list[str], int]:
    """The selected rows that can be accepted (unreviewed, parseable, not being written);
    and how many selected rows cannot."""
    model = table.decisions
    chosen, skipped = [], 0
    for decision_id in table.selected_decision_ids():
        summary = model.summary(model.row_of(decision_id))
        if summary is None or summary.reviewed or summary.decision == "unparseable" \
                or writing(decision_id):
            skipped += 1
        else:
            chosen.append(decision_id)
    return chosen, skipped


def ask_to_accept(parent: QWidget, chosen: list[str], skipped: int,
                  accept: Callable[[list[str]], None]) -> QMessageBox:
    """A window-modal question (Cancel by default); Yes calls ``accept(chosen)``. The
    caller opens it."""
    note = f"\n\n{skipped:,} selected decision{'s' if skipped != 1 else ''} already " \
           "reviewed or unparseable will be left as they are." if skipped else ""
    box = QMessageBox(QMessageBox.Icon.Question, "Accept the selected decisions",
                      f"Record \"accepted as correct\" for {len(chosen):,} decision"
                      f"{'s' if len(chosen) != 1 else ''}?{note}",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                      parent)
    box.setObjectName("acceptSelectedBox")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def answered(button: QAbstractButton) -> None:
        if box.standardButton(button) == QMessageBox.StandardButton.Yes:
            accept(chosen)

    box.buttonClicked.connect(answered)
    return box


class AcceptSelected:
    """Review → Accept all selected…: after a look, accept every selected decision.

    Only unreviewed, parseable rows are accepted; each is its own review (Ctrl+Z takes
    them back one by one). Not in blind review: there every decision needs the
    reviewer's own choice first.
    """

    def __init__(self, window: QWidget, table: DecisionsTable, writes: ReviewWrites,
                 feed: PanelFeed, dialogs: WindowDialogs, reviewer: Callable[[], str],
                 report: Callable[[str], None]) -> None:
        self._window = window
        self._table = table
        self._writes = writes
        self._feed = feed
        self._dialogs = dialogs
        self._reviewer = reviewer
        self._report = report

    def ask(self) -> None:
        """Ask whether to accept the selected rows that can be (nothing to ask: say so)."""
        chosen, skipped = accept_candidates(self._table, self._writes.writing)
        if not chosen:
            self._report("Nothing to accept: the selected decisions are reviewed already "
                         "or could not be parsed")
            return
        self._dialogs.keep(ask_to_accept(self._window, chosen, skipped, self.accept)).open()

    def accept(self, decision_ids: list[str]) -> None:
        """Accept ``decision_ids`` (the reviewer's name asked for first if unknown)."""
        reviewer = self._reviewer()
        if not reviewer:
            self._report("Not saved: a reviewer name is needed to record reviews")
            return
        for decision_id in self._writes.accept_all(decision_ids, reviewer):
            self._feed.forget(decision_id)
