"""The "all done — next queue?" line above the table when a filter has nothing left to review."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class QueueDoneBanner(QFrame):
    """Says the view is reviewed through and offers the next queue.

    Signals:
        next_requested(): the reviewer wants the offered queue.
    """

    next_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queueDone")
        self.setStyleSheet("QFrame#queueDone { background: palette(alternate-base);"
                           " border-bottom: 1px solid palette(mid); }")
        self.text = QLabel()
        self.text.setObjectName("queueDoneText")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.next_button = QPushButton()
        self.next_button.setObjectName("nextQueue")
        self.next_button.clicked.connect(self.next_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.next_button)
        self.hide()

    def show_done(self, text: str, next_label: str | None) -> None:
        """Show ``text``; offer ``next_label`` as a button (None: nothing to offer)."""
        self.text.setText(text)
        self.next_button.setVisible(next_label is not None)
        self.next_button.setText(next_label or "")
        self.show()
