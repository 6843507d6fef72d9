"""The line above the review panel while the window works the team's queue: what is
claimed, whether this is a blind second opinion, and the last conflict, in plain words."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from policy_desktop.store.assignments import QueueCounts
from policy_desktop.store.review_queue import MINE, NEXT, UNASSIGNED

POOL_LABELS: dict[str, str] = {NEXT: "Next", MINE: "My queue", UNASSIGNED: "Unassigned"}
POOL_TIPS: dict[str, str] = {
    NEXT: "The decisions assigned to you first, then those in nobody's queue",
    MINE: "Only the decisions a lead assigned to you",
    UNASSIGNED: "Only the decisions in nobody's queue (and second opinions)",
}


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # ids and names come from the log
    label.setWordWrap(True)
    return label


class QueueBar(QFrame):
    """The team queue's state (:attr:`state`), which decisions it hands out (:attr:`pool`)
    and the last conflict (:attr:`conflict`).

    Signals:
        pool_chosen(str): the reviewer chose another pool (``next``, ``mine``,
            ``unassigned``).
    """

    pool_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queueBar")
        self.setStyleSheet("QFrame#queueBar { background: palette(alternate-base);"
                           " border-bottom: 1px solid palette(mid); }"
                           " QLabel#queueConflict { font-weight: bold; }")
        self.state = _label("queueState")
        self.conflict = _label("queueConflict")
        self.conflict.hide()
        self.pool = QComboBox()
        self.pool.setObjectName("queuePool")
        self.pool.setToolTip("Which decisions the team queue hands you")
        self.pool.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for pool, label in POOL_LABELS.items():
            self.pool.addItem(label, pool)
            self.pool.setItemData(self.pool.count() - 1, POOL_TIPS[pool],
                                  Qt.ItemDataRole.ToolTipRole)
        self.pool.activated.connect(lambda index: self.pool_chosen.emit(self.pool.itemData(index)))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.state, 1)
        top.addWidget(self.pool)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.conflict)
        self.hide()

    def show_counts(self, counts: QueueCounts) -> None:
        """Put the number of unreviewed decisions behind each pool's name."""
        sizes = {NEXT: counts.mine + counts.unassigned, MINE: counts.mine,
                 UNASSIGNED: counts.unassigned}
        for index in range(self.pool.count()):
            pool = self.pool.itemData(index)
            self.pool.setItemText(index, f"{POOL_LABELS[pool]} ({sizes[pool]:,})")

    def show_state(self, text: str) -> None:
        """Say what the queue is doing (shows the bar)."""
        self.state.setText(text)
        self.show()

    def show_conflict(self, text: str) -> None:
        """Say why a review was not saved; it stays until the next conflict or stop."""
        self.conflict.setText(f"⚠ {text}")
        self.conflict.show()
        self.show()

    def stop(self) -> None:
        """The window stopped working the queue: hide everything."""
        self.conflict.clear()
        self.conflict.hide()
        self.hide()
