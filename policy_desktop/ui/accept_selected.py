"""Review → Accept all selected…: which selected rows can be accepted, and the question."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from policy_desktop.ui.decisions_table import DecisionsTable


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
