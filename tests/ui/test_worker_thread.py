"""A worker thread's shutdown always lets the worker release what it holds."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.ui.worker_thread import WorkerThread


class _Worker(QObject):
    busy = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.released = False
        self.leave = threading.Event()

    def request_stop(self) -> None:
        self.leave.set()

    @Slot()
    def work(self) -> None:
        self.busy.emit()  # direct: on the worker's thread, while the job still runs
        self.leave.wait(10)

    @Slot()
    def release(self) -> None:
        self.released = True


class _Controller(WorkerThread):
    _go = Signal()

    def __init__(self) -> None:
        super().__init__(_Worker(), "test-worker")
        self.worker: _Worker
        self._go.connect(self.worker.work)


def test_shutdown_while_the_worker_is_busy_still_releases() -> None:
    for _ in range(20):
        controller = _Controller()
        working = threading.Event()
        controller.worker.busy.connect(working.set)
        controller._go.emit()
        assert working.wait(10)
        assert controller.shutdown()  # cancels the job (request_stop), then must release
        assert controller.worker.released
