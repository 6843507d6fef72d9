"""Notice writes by other processes: poll the store's revision on the database thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.tasks import DbExecutor

POLL_INTERVAL_MS = 1000


def _revision(log: PolicyDecisionLog) -> int:
    return log.revision()


class LiveUpdates(QObject):
    """Polls ``log.revision()`` (one indexed read) and signals when it moved.

    Args:
        executor: the database thread.
        interval_ms: time between polls.
        parent: the owner.

    Signals:
        changed(int): the revision differs from the last one seen.
        failed(BaseException): a poll failed (it is tried again at the next tick).
    """

    changed = Signal(int)
    failed = Signal(object)

    def __init__(self, executor: DbExecutor, interval_ms: int = POLL_INTERVAL_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._seen: int | None = None
        self._in_flight = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        """Start polling (the first poll only sets the baseline unless :meth:`seen` did)."""
        self._timer.start()

    def stop(self) -> None:
        """Stop polling."""
        self._timer.stop()

    def reset(self) -> None:
        """Forget the revision seen (another database was opened)."""
        self._seen = None

    def seen(self, revision: int) -> None:
        """The window has shown the data of ``revision``."""
        self._seen = revision

    def poll(self) -> None:
        """Ask for the revision now (skipped while a poll is under way)."""
        if self._in_flight or self._executor.closed:
            return
        self._in_flight = True
        self._executor.submit(_revision, self._got, self._poll_failed)

    def _got(self, revision: int) -> None:
        self._in_flight = False
        if self._seen is None:
            self._seen = revision
        elif revision != self._seen:
            self._seen = revision
            self.changed.emit(revision)

    def _poll_failed(self, error: BaseException) -> None:
        self._in_flight = False
        self.failed.emit(error)
