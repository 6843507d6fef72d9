"""A worker ``QObject`` on its own ``QThread``, owned by a controller that stops it cleanly."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal


class WorkerThread(QObject):
    """Moves ``worker`` onto a new thread named ``name`` and starts it.

    The worker has ``request_stop()`` (thread-safe) and a ``release()`` slot (run on its
    own thread before the thread ends). Subclasses connect their own request signals to
    the worker's slots; requests queue on the worker's thread in order. :meth:`shutdown`
    cancels, lets the worker release its resources on its own thread, and joins the thread.
    """

    _release_requested = Signal()

    def __init__(self, worker: QObject, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.worker = worker
        worker.moveToThread(self._thread)
        self._release_requested.connect(worker.release)  # type: ignore[attr-defined]
        self._thread.start()

    def cancel(self) -> None:
        """Ask the worker's current job to stop (it checks a thread-safe flag)."""
        self.worker.request_stop()  # type: ignore[attr-defined]

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, release the worker's resources and stop the thread; True when it stopped."""
        if not self._thread.isRunning():
            return True
        self.cancel()
        self._release_requested.emit()
        self._thread.quit()
        return self._thread.wait(timeout_ms)
