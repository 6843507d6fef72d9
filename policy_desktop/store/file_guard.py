"""A guard against opening a live SQLite database file outside SQLite.

Closing *any* file descriptor of a database file releases every POSIX lock the
process holds on it, including those of SQLite's own connections (SQLite's "How To
Corrupt An SQLite Database File", section 2.2). Another process then believes the
database unused, checkpoints and deletes the write-ahead log, and this process goes
on writing into the deleted log: its reviews vanish without an error.

:class:`~policy_desktop.store.log.PolicyDecisionLog` registers the files it has open
here; an audit hook (installed once per process) makes Python's ``open()`` /
``os.open()`` of such a file, or of its ``-wal``/``-shm``/``-journal``, raise
:class:`LiveDatabaseFileError` instead of silently breaking the locks. Code in C
(Qt's file dialogs, SQLite itself) is not seen by the hook.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from policy_desktop.store.errors import StoreError

SIDECAR_SUFFIXES: tuple[str, ...] = ("", "-wal", "-shm", "-journal")


class LiveDatabaseFileError(StoreError):
    """Python code tried to open a database file that a connection in this process uses."""


class _Registry:
    """Real paths of the open database files (with their sidecars), counted per opener."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._guarded: frozenset[str] = frozenset()
        self._names: frozenset[str] = frozenset()
        self._inodes: dict[str, tuple[int, int]] = {}
        self._inode_set: frozenset[tuple[int, int]] = frozenset()
        self._installed = False

    def register(self, path: Path) -> str:
        """Guard ``path`` until :meth:`unregister`; return the key to unregister with."""
        key = os.path.realpath(path)
        try:
            status = os.stat(key)
            inode: tuple[int, int] | None = (status.st_dev, status.st_ino)
        except OSError:
            inode = None
        with self._lock:
            if inode is not None:
                self._inodes[key] = inode
            if not self._installed:
                sys.addaudithook(self._audit)
                self._installed = True
            self._counts[key] = self._counts.get(key, 0) + 1
            self._rebuild()
        return key

    def unregister(self, key: str) -> None:
        with self._lock:
            count = self._counts.get(key, 0) - 1
            if count > 0:
                self._counts[key] = count
            else:
                self._counts.pop(key, None)
                self._inodes.pop(key, None)
            self._rebuild()

    def is_live(self, path: Path) -> bool:
        """True while a log of this process has ``path`` open."""
        return os.path.realpath(path) in self._counts

    def _rebuild(self) -> None:
        guarded = {key + suffix for key in self._counts for suffix in SIDECAR_SUFFIXES}
        self._guarded = frozenset(guarded)
        self._names = frozenset(os.path.basename(name) for name in guarded)
        self._inode_set = frozenset(self._inodes.values())

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not self._names:
            return
        target = args[0] if args else None
        if not isinstance(target, str | bytes | os.PathLike):
            return  # an already open descriptor (os.fdopen) or nothing
        name = os.fsdecode(target)
        if os.path.basename(name) in self._names:  # the cheap test first
            live = os.path.realpath(name) in self._guarded
        else:  # another name for the file: a hard link, or a link that is not resolved here
            try:
                status = os.stat(name)
            except (OSError, ValueError):
                return
            live = (status.st_dev, status.st_ino) in self._inode_set
        if live:
            raise LiveDatabaseFileError(
                f"{name}: refusing to open a database file that this process has open in "
                "SQLite (closing the file would release SQLite's locks and lose writes); "
                "read it through the database connection instead")


GUARD = _Registry()
"""The process's registry (the audit hook cannot be removed, so there is only one)."""
