"""A worker ``QObject`` on its own ``QThread``, owned by a controller that stops it cleanly."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot


class _Releaser(QObject):
    """On the worker's thread: release the worker, then end the thread's event loop.

    Quitting from there, after ``release()``, is what makes the release certain: a
    ``quit()`` from the GUI thread while the worker is still busy ends the loop before it
    gets to the queued release.
    """

    def __init__(self, worker: QObject) -> None:
        super().__init__()
        self._worker = worker

    @Slot()
    def release_and_quit(self) -> None:
        try:
            self._worker.release()  # type: ignore[attr-defined]
        finally:
            QThread.currentThread().quit()


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
        self._releaser = _Releaser(worker)
        worker.moveToThread(self._thread)
        self._releaser.moveToThread(self._thread)
        self._release_requested.connect(self._releaser.release_and_quit)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the worker's current job to stop (it checks a thread-safe flag)."""
        self.worker.request_stop()  # type: ignore[attr-defined]

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, release the worker's resources and stop the thread; True when it stopped."""
        if not self._thread.isRunning():
            return True
        self.cancel()
        self._release_requested.emit()  # queued after the current job; quits after release
        return self._thread.wait(timeout_ms)
