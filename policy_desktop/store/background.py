""":class:`BackgroundLogger`: production logging that never makes the caller wait.

A service that decides in real time calls :meth:`BackgroundLogger.log`, which checks the
decision, gives it an id and a timestamp, and puts it on a bounded queue: no database
work on the caller's thread. One writer thread takes decisions off the queue and stores
them through :meth:`PolicyDecisionLog.log_decisions` in batches, by size
(``batch_size``) and by time (``flush_interval`` after the first decision of a batch).

Nothing is dropped silently:

* a locked or unreachable database is retried (with backoff) for as long as the logger
  runs, and on :meth:`~BackgroundLogger.close` until ``close_timeout``;
* a full queue, a decision the database refuses (e.g. an id already stored) and what is
  still unstored when ``close_timeout`` runs out are **spilled**: appended to a JSONL file
  in the ``policy-desktop import`` format, one line each with an extra
  ``unstored_reason`` key (which import ignores). Ids are fixed before a decision is
  queued, so importing a spill file twice, or a decision that did get stored, adds
  nothing. Spilling is the documented choice over blocking: the caller is never slowed
  down by the database, only by one short file append when the queue is full
  (``full_wait`` > 0 first waits that long for room);
* every spill is counted (:meth:`~BackgroundLogger.stats`), logged as a warning, passed
  to ``on_unstored``, and printed on standard error at interpreter exit.

:meth:`~BackgroundLogger.close` (also a context manager) stores everything queued; an
``atexit`` hook does the same when a program exits without closing.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee as pw

from policy_desktop.store.decision import (
    PolicyDecision,
    check_decision,
    make_decision_id,
    now_iso,
)
from policy_desktop.store.errors import InvalidRecordError, StoreError
from policy_desktop.store.log import PolicyDecisionLog

__all__ = ["BackgroundLogger", "BackgroundStats", "default_spill_path"]

_logger = logging.getLogger(__name__)

SPILL_SUFFIX = ".unstored.jsonl"
REASON_KEY = "unstored_reason"
_ENCODE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_MAX_BACKOFF = 2.0
SPILL_BUFFER = 1 << 16
"""Bytes of spilled lines gathered before they are written."""
WARNING_INTERVAL = 10.0
"""Seconds between two warnings about spilled decisions."""


@dataclass(frozen=True)
class BackgroundStats:
    """What a :class:`BackgroundLogger` did so far.

    Attributes:
        accepted: decisions taken by :meth:`BackgroundLogger.log`.
        stored: decisions committed to the database.
        spilled: decisions written to ``spill_path`` instead (import them later).
        lost: decisions that could be neither stored nor spilled (the spill file could
            not be written); each was reported on standard error with its id.
        pending: decisions queued or in the batch being written.
        retries: database attempts that failed and were retried (locked, unreachable).
        spill_path: the JSONL file for unstored decisions.
        last_error: the last database error seen, if any.
    """

    accepted: int
    stored: int
    spilled: int
    lost: int
    pending: int
    retries: int
    spill_path: Path
    last_error: str | None

    @property
    def complete(self) -> bool:
        """True when every accepted decision is in the database."""
        return self.stored == self.accepted


def default_spill_path(log: PolicyDecisionLog) -> Path:
    """``<database file>.unstored.jsonl`` beside a SQLite file; for a server database,
    ``unstored-decisions.jsonl`` in the user's data folder."""
    path = log.target.sqlite_path
    if path is not None:
        return path.with_name(path.name + SPILL_SUFFIX)
    from policy_desktop.paths import data_dir

    return data_dir() / "unstored-decisions.jsonl"


class _Flush:
    """A marker on the queue: everything before it has been stored (or spilled)."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class _SpillFile:
    """Appends decisions to a JSONL file in whole lines (safe across threads and processes).

    Lines gather in memory and go out in chunks of whole lines, one ``write`` each (so
    processes sharing the file never interleave inside a line), once ``SPILL_BUFFER``
    bytes wait or on :meth:`flush` (the writer thread flushes after every batch, and
    :meth:`close`): a full queue then costs the caller no system call, which would hand
    the GIL to the writer for up to a switch interval. The buffer holds what the queue
    would have held; it is as safe as the queue.
    """

    def __init__(self, path: Path, on_lost: Callable[[list[PolicyDecision]], None]) -> None:
        self.path = path
        self._on_lost = on_lost
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[PolicyDecision, bytes]] = []
        self._size = 0

    def write(self, decisions: list[PolicyDecision], reason: str) -> None:
        """Queue ``decisions`` for the file (written now if the buffer is full)."""
        lines = [(decision, _spill_line(decision, reason)) for decision in decisions]
        with self._lock:
            self._pending.extend(lines)
            self._size += sum(len(line) for _, line in lines)
            if self._size < SPILL_BUFFER:
                return
            lost = self._write_pending()
        if lost:
            self._on_lost(lost)

    def flush(self) -> None:
        """Write every line waiting in memory."""
        with self._lock:
            lost = self._write_pending()
        if lost:
            self._on_lost(lost)

    def _write_pending(self) -> list[PolicyDecision]:
        if not self._pending:
            return []
        pending, self._pending, self._size = self._pending, [], 0
        data = memoryview(b"".join(line for _, line in pending))
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as error:
            for decision, line in pending:
                print(f"policy-desktop: cannot write {self.path} ({error}); decision "
                      f"{decision.decision_id} is lost: {line!r}", file=sys.stderr, flush=True)
            return [decision for decision, _ in pending]
        return []

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _spill_line(decision: PolicyDecision, reason: str) -> bytes:
    record: dict[str, Any] = {**decision.to_dict(), REASON_KEY: reason}
    try:
        text = _ENCODE_JSON(record)
    except (TypeError, ValueError):  # kept readable even when the database refused it
        text = json.dumps(record, ensure_ascii=False, default=repr)
    return (text + "\n").encode("utf-8", errors="backslashreplace")


class BackgroundLogger:
    """Logs decisions from any thread without waiting for the database.

    Args:
        database: a :class:`PolicyDecisionLog` (its connections in other threads are left
            alone), or a path or URL to open one (``None``: the default database).
        queue_size: decisions that may wait in memory; beyond that they are spilled.
        batch_size: most decisions per transaction.
        flush_interval: seconds a batch waits for more decisions after its first one.
        spill_path: the JSONL file for decisions that cannot be stored (default:
            :func:`default_spill_path`).
        full_wait: seconds :meth:`log` waits for room in a full queue before spilling.
        lock_wait: seconds one write waits for SQLite's lock before it is retried.
        close_timeout: seconds :meth:`close` (and the exit hook) keeps retrying an
            unavailable database before spilling what is left.
        on_unstored: called with the decisions and the reason whenever some are spilled
            (on the caller's thread for a full queue, else on the writer's).

    Raises:
        StoreError: the database cannot be opened (as :class:`PolicyDecisionLog`).
        ValueError: an in-memory database (the writer thread could not see it).
    """

    def __init__(
        self,
        database: PolicyDecisionLog | str | Path | None = None,
        *,
        queue_size: int = 50_000,
        batch_size: int = 2_000,
        flush_interval: float = 0.2,
        spill_path: str | Path | None = None,
        full_wait: float = 0.0,
        lock_wait: float = 1.0,
        close_timeout: float = 30.0,
        on_unstored: Callable[[list[PolicyDecision], str], None] | None = None,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be at least 1")
        owned = not isinstance(database, PolicyDecisionLog)
        log = database if isinstance(database, PolicyDecisionLog) else PolicyDecisionLog(database)
        if log.target.sqlite_path is not None and str(log.target.sqlite_path) == ":memory:":
            if owned:
                log.close()
            raise ValueError("an in-memory database cannot be logged to in the background")
        if owned:
            # This thread's connection only (log.close() would also end the file guard);
            # the writer opens its own.
            log.database.close()
        self._log = log
        self._owned = owned
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._full_wait = full_wait
        self._lock_wait = lock_wait
        self._close_timeout = close_timeout
        self._on_unstored = on_unstored
        self._spill = _SpillFile(Path(spill_path) if spill_path else default_spill_path(log),
                                 self._lost_in_spill)
        self._counts_lock = threading.Lock()
        self._accepted = 0
        self._stored = 0
        self._spilled = 0
        self._lost = 0
        self._retries = 0
        self._in_batch = 0
        self._last_error: str | None = None
        self._closed = False
        self._drained = False
        self._give_up_at: float | None = None
        self._gave_up = False
        self._unwarned = 0
        self._spill_reason = ""
        self._warned_at = -WARNING_INTERVAL
        self._close_lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="policy-desktop-logger",
                                        daemon=True)
        self._writer.start()
        atexit.register(self._at_exit)

    # --- the caller's side ------------------------------------------------------------

    @property
    def spill_path(self) -> Path:
        """The JSONL file unstored decisions go to (``policy-desktop import`` takes it)."""
        return self._spill.path

    def log(self, decision: PolicyDecision) -> str:
        """Queue ``decision`` for storing; return its id (filled in when absent).

        Like :meth:`PolicyDecisionLog.log_decision`, the id and timestamp are set on
        ``decision`` itself; a snapshot of it is queued, so later changes to the object
        are not logged. Never waits for the database.

        Raises:
            InvalidRecordError: the decision breaks the schema's rules (nothing queued).
            RuntimeError: the logger is closed.
        """
        if self._closed:
            raise RuntimeError("this BackgroundLogger is closed")
        if decision.timestamp is None:
            decision.timestamp = now_iso()
        if decision.decision_id is None:
            # 48 random bits: 8 hex digits collide within a minute at ~100,000 decisions.
            decision.decision_id = make_decision_id(decision.timestamp, secrets.token_hex(6))
        snapshot = _snapshot(decision)
        check_decision(snapshot)
        try:
            _ENCODE_JSON(snapshot.situation)
        except (TypeError, ValueError) as error:
            raise InvalidRecordError(f"situation cannot be stored as JSON ({error})") from None
        with self._counts_lock:
            self._accepted += 1
        try:
            if self._full_wait > 0:
                self._queue.put(snapshot, timeout=self._full_wait)
            else:
                self._queue.put_nowait(snapshot)
        except queue.Full:
            self._unstored([snapshot], f"the queue was full ({self._queue.maxsize} waiting)")
        if self._drained:  # closed while this call ran: nobody else will take it
            self._spill_leftovers("logged while the logger was closing")
        return decision.decision_id

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is stored (or spilled); False on timeout."""
        if self._closed or not self._writer.is_alive():
            return self.pending == 0
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    @property
    def pending(self) -> int:
        """Decisions not yet stored or spilled."""
        return self._queue.qsize() + self._in_batch

    def stats(self) -> BackgroundStats:
        """Counts so far (see :class:`BackgroundStats`)."""
        with self._counts_lock:
            return BackgroundStats(
                accepted=self._accepted, stored=self._stored, spilled=self._spilled,
                lost=self._lost, pending=self.pending, retries=self._retries,
                spill_path=self._spill.path, last_error=self._last_error)

    def close(self, timeout: float | None = None) -> BackgroundStats:
        """Store everything queued, stop the writer; return the final counts.

        An unavailable database is retried for ``timeout`` seconds (default
        ``close_timeout``); what is still unstored then is spilled. Idempotent.
        """
        with self._close_lock:
            if not self._drained:
                self._closed = True
                budget = self._close_timeout if timeout is None else timeout
                self._give_up_at = time.monotonic() + budget
                while self._writer.is_alive():  # a full queue drains: room comes
                    try:
                        self._queue.put(_STOP, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                self._writer.join()
                self._spill_leftovers("logged while the logger was closing")
                self._drained = True
                self._spill_leftovers("logged while the logger was closing")
                self._spill.close()
                if self._owned:
                    self._log.close()
                self._warn(0, None, final=True)
                atexit.unregister(self._at_exit)
        return self.stats()

    def __enter__(self) -> BackgroundLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        result = self.close()
        if result.spilled or result.lost:
            print(f"policy-desktop: {result.spilled} decisions could not be stored in "
                  f"{self._log.display_name}; they are in {result.spill_path} "
                  f"(policy-desktop import {result.spill_path})"
                  + (f"; {result.lost} lost" if result.lost else ""), file=sys.stderr)

    def _spill_leftovers(self, reason: str) -> None:
        leftovers: list[PolicyDecision] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, PolicyDecision):
                leftovers.append(item)
            elif isinstance(item, _Flush):
                item.done.set()
        if leftovers:
            self._unstored(leftovers, reason)

    def _unstored(self, decisions: list[PolicyDecision], reason: str) -> None:
        with self._counts_lock:
            self._spilled += len(decisions)
        self._spill.write(decisions, reason)
        self._warn(len(decisions), reason)
        if self._on_unstored is not None:
            try:
                self._on_unstored(decisions, reason)
            except Exception:  # a reporting hook must not stop the logging
                _logger.exception("on_unstored failed")

    def _lost_in_spill(self, decisions: list[PolicyDecision]) -> None:
        with self._counts_lock:
            self._spilled -= len(decisions)
            self._lost += len(decisions)

    def _warn(self, count: int, reason: str | None, *, final: bool = False) -> None:
        """A warning for the first spill, then at most one per WARNING_INTERVAL with the
        count since (a full queue spills thousands a second: one line each would flood)."""
        with self._counts_lock:
            self._unwarned += count
            self._spill_reason = reason or self._spill_reason
            now = time.monotonic()
            if not self._unwarned or (not final and now - self._warned_at < WARNING_INTERVAL):
                return
            count, self._unwarned, self._warned_at = self._unwarned, 0, now
            reason = self._spill_reason
        _logger.warning("%d decisions not stored (last reason: %s); written to %s "
                        "(policy-desktop import takes it)", count, reason, self._spill.path)

    # --- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                self._limit_lock_wait()
            except (pw.DatabaseError, pw.InterfaceError) as error:  # retried by each write
                self._last_error = str(error)
            stopping = False
            while not stopping:
                batch: list[PolicyDecision] = []
                markers: list[_Flush] = []
                stopping = self._collect(batch, markers)
                if batch:
                    self._in_batch = len(batch)
                    self._store(batch)
                    self._in_batch = 0
                self._spill.flush()
                for marker in markers:
                    marker.done.set()
            self._drain()
        finally:
            self._log.database.close()  # the writer thread's connection only

    def _collect(self, batch: list[PolicyDecision], markers: list[_Flush]) -> bool:
        """Fill one batch (by size and time); True when asked to stop."""
        item = self._queue.get()
        deadline = time.monotonic() + self._flush_interval
        while True:
            if item is _STOP:
                return True
            if isinstance(item, _Flush):
                markers.append(item)
                return False
            batch.append(item)
            if len(batch) >= self._batch_size:
                return False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    return False

    def _drain(self) -> None:
        """After the stop marker: store what is still queued, batch by batch."""
        while True:
            batch: list[PolicyDecision] = []
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, PolicyDecision):
                    batch.append(item)
                elif isinstance(item, _Flush):
                    item.done.set()
            if not batch:
                return
            self._in_batch = len(batch)
            self._store(batch)
            self._in_batch = 0

    def _limit_lock_wait(self) -> None:
        """Wait ``lock_wait`` (not the store's 10 s) for SQLite's lock, then retry: the
        writer stays responsive to close() and its retries are counted."""
        if self._log.target.is_sqlite:
            self._log.database.execute_sql(f"PRAGMA busy_timeout = {int(self._lock_wait * 1000)}")

    def _store(self, batch: list[PolicyDecision]) -> None:
        """Commit ``batch``, retrying an unavailable database; spill what cannot be stored."""
        backoff = 0.05
        while True:
            if self._gave_up:
                self._unstored(batch, f"the database was unavailable ({self._last_error})")
                return
            try:
                stored = self._log.log_decisions(batch)
            except InvalidRecordError as error:
                if len(batch) == 1:
                    self._unstored(batch, f"the database refused it ({error})")
                    return
                for decision in batch:  # find the one(s) refused; store the rest
                    self._store([decision])
                return
            except (pw.DatabaseError, pw.InterfaceError, StoreError) as error:
                with self._counts_lock:
                    self._retries += 1
                    self._last_error = str(error)
                wait = backoff
                if self._give_up_at is not None:
                    remaining = self._give_up_at - time.monotonic()
                    if remaining <= 0:
                        self._gave_up = True
                        continue
                    wait = min(wait, remaining)
                time.sleep(wait)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            except Exception as error:  # the writer must outlive any surprise
                self._unstored(batch, f"storing failed ({type(error).__name__}: {error})")
                return
            with self._counts_lock:
                self._stored += stored
            return


def _snapshot(decision: PolicyDecision) -> PolicyDecision:
    """A copy whose situation dict and tags list are its own (cheaper than ``copy.copy``)."""
    clone = object.__new__(PolicyDecision)
    clone.__dict__.update(decision.__dict__)
    if isinstance(decision.situation, dict):
        clone.situation = dict(decision.situation)
    if isinstance(decision.tags, list):
        clone.tags = list(decision.tags)
    return clone
