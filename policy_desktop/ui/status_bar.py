"""The window's status bar: key hint, "Reviewed N of M", session pace, row-cap notice.

Transient messages ("Saved…", "Review undone…") take the key hint's place while
they show, in their own label: QStatusBar's own message is painted over the
normal widgets, and the key hint, shown again when the table reappears, was
drawn on top of it (both unreadable).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from policy_desktop.ui.decisions_model import DecisionsModel
from policy_desktop.ui.review_writes import ReviewWrites
from policy_desktop.ui.session_progress import SessionProgress, progress_text, session_text
from policy_desktop.ui.view_counts import Counts, ViewCounts

KEYS_HINT = "A accept · 1–4 choose · R reasoning · Ctrl+Enter save · S skip · J/K move · F1 keys"
PACE_REFRESH_MS = 15_000
READ_ONLY_NOTE = "Read-only here: reviews cannot be saved in this database"


def _plain_label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class ReviewStatusBar(QStatusBar):
    """Progress of the current filter and of this session, always in view.

    Args:
        session: the reviews made in this window.
        parent: the window.
    """

    def __init__(self, session: SessionProgress, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self._session = session
        self.keys_hint = _plain_label("keysHint", KEYS_HINT)
        self.cap_label = _plain_label("capLabel")
        self.cap_label.hide()
        self.read_only_label = _plain_label("readOnlyLabel", "Read-only")
        self.read_only_label.setToolTip(READ_ONLY_NOTE)
        self.read_only_label.hide()
        self.progress_label = _plain_label("progressLabel", progress_text(None, None))
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("reviewProgress")
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(120)
        self.progress_bar.setRange(0, 1000)  # permille: QProgressBar holds ints
        self.progress_bar.setValue(0)
        self.session_label = _plain_label("sessionLabel", session_text(session))
        self.message_label = _plain_label("statusMessage")
        self.message_label.hide()
        self._reviewing = True
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.clearMessage)
        self.addWidget(self.keys_hint, 1)
        self.addWidget(self.message_label, 1)
        for widget in (self.read_only_label, self.cap_label, self.progress_label, self.progress_bar,
                       self.session_label):
            self.addPermanentWidget(widget)
        self._pace_timer = QTimer(self)
        self._pace_timer.setInterval(PACE_REFRESH_MS)
        self._pace_timer.timeout.connect(self.show_session)
        self._pace_timer.start()

    def showMessage(self, text: str, timeout: int | None = 0) -> None:
        """Show ``text`` instead of the key hint (for ``timeout`` ms; 0: until cleared)."""
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        self.keys_hint.setVisible(not text and self._reviewing)
        if text and timeout:
            self._message_timer.start(timeout)
        else:
            self._message_timer.stop()

    def clearMessage(self) -> None:
        """Remove the message; the key hint comes back."""
        self._message_timer.stop()
        self.message_label.clear()
        self.message_label.hide()
        self.keys_hint.setVisible(self._reviewing)

    def currentMessage(self) -> str:
        """The message on show ("" when none)."""
        return self.message_label.text()

    def show_progress(self, reviewed: int | None, total: int | None) -> None:
        """``Reviewed N of M`` for the current filter (None: not known yet)."""
        self.progress_label.setText(progress_text(reviewed, total))
        done = reviewed or 0
        self.progress_bar.setValue(round(1000 * done / total) if total else 0)

    def show_session(self) -> None:
        """Reviews made in this window and their pace."""
        self.session_label.setText(session_text(self._session))

    def show_read_only(self, read_only: bool) -> None:
        """Mark the database as read-only here (nothing this window writes is saved)."""
        self.read_only_label.setVisible(read_only)

    def show_cap(self, max_rows: int | None) -> None:
        """Say that the table stops at ``max_rows`` rows (None hides the notice)."""
        self.cap_label.setVisible(max_rows is not None)
        if max_rows is not None:
            self.cap_label.setText(f"Showing the first {max_rows:,} rows — "
                                   "narrow the filter to see the rest")

    def follow(self, counts: ViewCounts, model: DecisionsModel, writes: ReviewWrites) -> None:
        """Subscribe to the view counts (``Reviewed N of M``), the table's rows (the cap
        notice) and the window's writes (the session's pace)."""
        counts.changed.connect(self._counted)
        for signal in (model.reloaded, model.refreshed, model.rowsInserted):
            signal.connect(lambda *_: self.show_cap(model.max_rows if model.capped else None))
        writes.written.connect(lambda *_: self._reviewed())
        writes.undone.connect(lambda *_: self._undone())

    def _counted(self, counts: Counts) -> None:
        self.show_progress(counts.views["reviewed"], counts.views["all"])

    def _reviewed(self) -> None:
        self._session.record_review()
        self.show_session()

    def _undone(self) -> None:
        self._session.record_undo()
        self.show_session()

    def set_reviewing(self, reviewing: bool) -> None:
        """Show the review progress and key hint only where there is something to review."""
        self._reviewing = reviewing
        for widget in (self.progress_label, self.progress_bar):
            widget.setVisible(reviewing)
        self.keys_hint.setVisible(reviewing and not self.message_label.text())

    def stop(self) -> None:
        """Stop refreshing the pace."""
        self._pace_timer.stop()
        self._message_timer.stop()
