"""All database work of the window, on ONE background thread (Anki's collection executor).

The worker thread opens the :class:`PolicyDecisionLog` itself, so it owns the
peewee connection (connections are thread-local); the GUI thread never runs a
query. Jobs run one at a time in submission order, and their results or errors
come back on the GUI thread through a queued signal, also in submission order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from policy_desktop.store import PolicyDecisionLog, StoreError

T = TypeVar("T")
Job = Callable[[PolicyDecisionLog], T]
OnDone = Callable[[Any], None]
OnError = Callable[[BaseException], None]

_log = logging.getLogger(__name__)


class NoDatabaseError(StoreError):
    """A job was submitted while no database is open."""

    def __init__(self) -> None:
        super().__init__("no database is open")


@dataclass(frozen=True)
class OpenedDatabase:
    """What the GUI learns about a database the worker opened."""

    location: str
    display_name: str
    backup_path: Path | None
    read_only: bool = False  # this process may not write the file (or its folder)


@dataclass
class _Pending:
    on_done: OnDone | None
    on_error: OnError | None


class DbExecutor(QObject):
    """Runs callables ``job(log)`` on the database thread; results arrive on the GUI thread.

    Signals:
        unhandled_error(BaseException): a job without ``on_error`` failed.
    """

    unhandled_error = Signal(object)
    _finished = Signal(object, object, object)  # pending, result, error

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-db")
        self._log: PolicyDecisionLog | None = None  # used on the worker thread only
        self._outstanding = 0
        self._closed = False
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._finished.connect(self._deliver)

    # --- state seen from the GUI thread ---------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no job is queued, running or waiting for delivery."""
        return self._outstanding == 0

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    # --- submitting -------------------------------------------------------------------

    def open(self, database: str | None, *, create: bool = True,
             on_done: Callable[[OpenedDatabase], None] | None = None,
             on_error: OnError | None = None) -> None:
        """Open ``database`` on the worker (None: the default database).

        On success the previous database is closed and every later job uses the
        new one (jobs submitted earlier ran on the previous one, and their results
        arrive before ``on_done``). On failure the previous database stays open.
        """

        def job(_: PolicyDecisionLog | None) -> OpenedDatabase:
            log = PolicyDecisionLog(database, create=create)
            previous, self._log = self._log, log
            if previous is not None:
                previous.close()
            return OpenedDatabase(log.target.location, log.display_name, log.backup_path,
                                  log.read_only)

        self._enqueue(job, on_done, on_error, needs_log=False)

    def submit(self, job: Job[T], on_done: Callable[[T], None] | None = None,
               on_error: OnError | None = None) -> None:
        """Run ``job(log)`` on the worker; call ``on_done(result)`` or ``on_error(error)``.

        The callbacks run on the GUI thread. A job must never touch widgets.
        """
        self._enqueue(job, on_done, on_error, needs_log=True)

    def call(self, job: Job[T], timeout: float) -> T:
        """Run ``job(log)`` after the jobs queued before it and wait for its result.

        The GUI thread blocks meanwhile: only for what must be done before the window
        goes (giving back the team queue's claims), never during work. Raises the job's
        error, :class:`NoDatabaseError`, or ``TimeoutError`` after ``timeout`` seconds.
        """
        if self._closed:
            raise NoDatabaseError()

        def run() -> T:
            if self._log is None:
                raise NoDatabaseError()
            return job(self._log)

        return self._pool.submit(run).result(timeout)

    def _enqueue(self, job: Callable[[Any], Any], on_done: OnDone | None,
                 on_error: OnError | None, *, needs_log: bool) -> None:
        if self._closed:
            return
        pending = _Pending(on_done, on_error)
        self._outstanding += 1
        future = self._pool.submit(self._run, job, pending, needs_log)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    # --- worker thread ------------------------------------------------------------------

    def _run(self, job: Callable[[Any], Any], pending: _Pending, needs_log: bool) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            if needs_log and self._log is None:
                raise NoDatabaseError()
            result = job(self._log)
        except Exception as problem:  # delivered to the GUI thread, never lost
            error = problem
        if not self._closed:
            self._finished.emit(pending, result, error)

    # --- GUI thread ---------------------------------------------------------------------

    def _deliver(self, pending: _Pending, result: Any, error: BaseException | None) -> None:
        self._outstanding = max(0, self._outstanding - 1)
        if self._closed:
            return
        if error is None:
            if pending.on_done is not None:
                pending.on_done(result)
        elif pending.on_error is not None:
            pending.on_error(error)
        else:
            _log.error("database job failed: %s", error, exc_info=error)
            self.unhandled_error.emit(error)

    def shutdown(self) -> None:
        """Drop queued jobs, close the database on its thread and join the thread."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            queued = list(self._futures)
        for future in queued:
            future.cancel()
        self._pool.submit(self._close_log)
        self._pool.shutdown(wait=True)
        self._outstanding = 0

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
