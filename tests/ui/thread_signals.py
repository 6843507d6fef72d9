"""Waiting in a test on a signal that a worker emits on its own thread.

``qtbot.waitSignal(worker.signal)`` connects a plain function, which Qt calls on the
emitting thread: it then stops the wait's GUI-thread timer from there ("Timers cannot
be stopped from another thread"). A :class:`GuiRelay` lives on the GUI thread, so the
connection is queued and the test sees the signal where the window would.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance


class GuiRelay(QObject):
    """Re-emits ``source``'s arguments as one tuple on the GUI thread (``arrived``)."""

    arrived = Signal(tuple)

    def __init__(self, source: SignalInstance) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []
        source.connect(self._take)

    def _take(self, *args: Any) -> None:
        self.calls.append(args)
        self.arrived.emit(args)
