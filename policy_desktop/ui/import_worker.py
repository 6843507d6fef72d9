"""JSONL imports off the GUI thread: a cancellable worker on its own QThread.

The worker opens its own connection to the database and feeds the store's streaming
``import_jsonl`` line by line; the lines it has read give the progress, and a
cancel stops the reading. The store commits each batch as it goes, so a cancelled
import keeps what it stored and says how much that was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.jsonl import ImportResult, import_jsonl
from policy_desktop.ui.worker_thread import WorkerThread

PROGRESS_EVERY_S = 0.1  # at most ten progress signals a second


class ImportWorker(QObject):
    """Imports JSONL files into one database; lives on the import thread.

    Signals:
        started(total_bytes): the files were found and reading begins.
        progress(stage, fraction): the file being read and the share of all bytes read.
        finished(result): an ``ImportResult``; every file was read.
        cancelled(result): stopped on request; ``result`` counts what was stored.
        failed(message): a file could not be read; what was stored before stays.
    """

    started = Signal(int)
    progress = Signal(str, float)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(str)

    def __init__(self, database: str) -> None:
        super().__init__()
        self._database = database
        self._log: PolicyDecisionLog | None = None
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Ask a running import to stop after the line being read (safe from any thread)."""
        self._stop.set()

    @Slot(object)
    def run(self, paths: Sequence[Path]) -> None:
        """Import ``paths`` in order; report through the signals."""
        self._stop.clear()
        result = ImportResult()
        try:
            total = sum(path.stat().st_size for path in paths)
            self.started.emit(total)
            if self._log is None:
                self._log = PolicyDecisionLog(self._database)
            done = 0
            for path in paths:
                if self._stop.is_set():
                    break
                with path.open("rb") as handle:
                    lines = self._lines(handle, path.name, done, total)
                    import_jsonl(self._log, lines, str(path), result)
                done += path.stat().st_size
        except Exception as error:  # reported to the person; the thread must go on
            self.failed.emit(str(error) or type(error).__name__)
            return
        (self.cancelled if self._stop.is_set() else self.finished).emit(result)

    def _lines(self, handle: BinaryIO, name: str, done: int, total: int) -> Iterator[bytes]:
        """The file's lines until a cancel, with progress by bytes read."""
        read, reported = 0, 0.0
        for line in handle:
            if self._stop.is_set():
                return
            yield line
            read += len(line)
            now = time.monotonic()
            if now - reported >= PROGRESS_EVERY_S:
                reported = now
                self.progress.emit(f"Importing {name}…", (done + read) / max(total, 1))

    @Slot()
    def release(self) -> None:
        """Close this thread's database connection (before the thread ends)."""
        if self._log is not None:
            self._log.close()
            self._log = None


class ImportController(WorkerThread):
    """Owns the import thread and its worker for one database."""

    _run_requested = Signal(object)

    def __init__(self, database: str, parent: QObject | None = None) -> None:
        super().__init__(ImportWorker(database), "policy-desktop-import", parent)
        self.worker: ImportWorker
        self._run_requested.connect(self.worker.run)

    def start(self, paths: Sequence[Path]) -> None:
        """Import ``paths`` on the import thread."""
        self._run_requested.emit(list(paths))
