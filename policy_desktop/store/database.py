"""Opening a decision database: path or URL, safety checks, pragmas, schema set-up.

The checks that can refuse a file (not SQLite, schema too new) run on a
read-only connection first, so a refused file is left byte-for-byte unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee as pw
from playhouse.db_url import connect as connect_url

from policy_desktop.store.errors import (
    DatabaseNotFoundError,
    NotADatabaseError,
    SchemaTooNewError,
    StoreError,
)
from policy_desktop.store.failures import explain
from policy_desktop.store.file_guard import GUARD
from policy_desktop.store.masking import mask_passwords
from policy_desktop.store.schema import SCHEMA_VERSION, SEED_COLUMNS

BUSY_TIMEOUT_MS = 10_000
DAMAGED = ("the database file is damaged; nothing was changed (copy it aside, then try "
           "`sqlite3 FILE .recover`)")
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "synchronous": "normal",
    "cache_size": -32_000,
}


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a database lives: a SQLite file path or a server URL."""

    location: str
    sqlite_path: Path | None

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_path is not None

    @property
    def display_name(self) -> str:
        """What to show a person: the file path, or the URL without its password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return _hide_password(self.location)


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def parse_target(location: str | Path) -> DatabaseTarget:
    """Interpret a path, ``sqlite:///path`` or another ``playhouse.db_url`` URL."""
    text = str(location)
    if "://" not in text:
        return DatabaseTarget(text, Path(text).expanduser())
    scheme, _, rest = text.partition("://")
    if scheme in ("sqlite", "sqliteext", "sqlite+pool"):
        if not rest.startswith("/"):
            raise StoreError(f"{text}: a sqlite URL needs a path, e.g. sqlite:///decisions.db")
        path_text = rest[1:] or ":memory:"
        return DatabaseTarget(text, Path(path_text).expanduser())
    return DatabaseTarget(text, None)


def sidecar(path: Path, suffix: str) -> Path:
    """The ``-wal``/``-shm``/``-journal`` file SQLite keeps beside ``path``."""
    return path.with_name(path.name + suffix)


def _in_use(path: Path) -> bool:
    """True when a write-ahead log or rollback journal lies beside the file."""
    return sidecar(path, "-wal").exists() or sidecar(path, "-journal").exists()


def _readonly_uri(path: Path) -> str:
    """A URI that reads ``path`` without creating or changing any file.

    A plain ``mode=ro`` open of a WAL database creates ``-wal``/``-shm`` files and
    leaves them behind; with no log or journal beside the file nothing is
    half-written, so ``immutable=1`` reads it without touching anything.
    """
    uri = path.resolve().as_uri()
    return f"{uri}?mode=ro" if _in_use(path) else f"{uri}?mode=ro&immutable=1"


def _check_sqlite_file(path: Path, location: str) -> int | None:
    """Refuse files that are not decision logs; return the stored schema version.

    ``None`` means a SQLite database without tables (a fresh one); ``1`` the
    seed's lone ``decisions`` table. Only SQLite reads the file (never ``open()``: in
    a process that has it open, closing any descriptor of it releases SQLite's locks).
    """
    try:
        connection = sqlite3.connect(_readonly_uri(path), uri=True,
                                     timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")}
            row = None
            columns = {info[1] for info in connection.execute(
                "PRAGMA table_info(decisions)")} if "decisions" in tables else set()
            if "store_meta" in tables:
                row = connection.execute(
                    "SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        finally:
            connection.close()
    except sqlite3.OperationalError as error:  # locked, unreadable, a journal to roll back
        raise StoreError(f"{location}: cannot read the database ({error})") from error
    except sqlite3.DatabaseError as error:  # "file is not a database", "malformed"
        if "malformed" in str(error):
            raise StoreError(f"{location}: {DAMAGED} ({error})") from error
        raise NotADatabaseError(location) from error
    if "decisions" not in tables and "store_meta" not in tables:
        if tables:
            names = ", ".join(sorted(tables)[:5])
            raise NotADatabaseError(
                location, f"a SQLite database but not a decision log (its tables: {names})")
        return None
    missing = [name for name in SEED_COLUMNS if name not in columns]
    if "decisions" in tables and missing:
        raise NotADatabaseError(
            location, "a SQLite database with a 'decisions' table that is not a decision log "
            f"(it lacks {', '.join(missing[:5])})")
    if row is None:
        return 1 if "decisions" in tables else None
    try:
        return int(row[0])
    except ValueError as error:
        raise StoreError(f"{location}: unreadable schema version {row[0]!r}") from error


class GuardedSqliteDatabase(pw.SqliteDatabase):
    """A SQLite database whose file is guarded against ``open()`` while a connection is open.

    Every connection (peewee keeps one per thread) registers the file with
    :data:`~policy_desktop.store.file_guard.GUARD` and unregisters it when closed.
    """

    def __init__(self, database: str, *, guarded_path: Path, **options: Any) -> None:
        super().__init__(database, **options)
        self.guarded_path = guarded_path
        self._guard_keys: dict[int, str] = {}

    # peewee's hints leave out its connection hooks, which are what a subclass overrides.
    def _connect(self) -> sqlite3.Connection:
        connection = super()._connect()  # type: ignore[misc]
        self._guard_keys[id(connection)] = GUARD.register(self.guarded_path)
        return connection

    def _close(self, conn: sqlite3.Connection) -> None:
        key = self._guard_keys.pop(id(conn), None)
        try:
            super()._close(conn)  # type: ignore[misc]
        finally:
            if key is not None:
                GUARD.unregister(key)


@dataclass
class Connection:
    """An opened database: what :func:`connect` found and did."""

    database: pw.Database
    found_version: int | None
    backup: Path | None
    read_only: bool = False
    created: bool = False


def _writable(path: Path) -> bool:
    """True when this process may change ``path`` and create its ``-wal``/``-shm``."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def remove_created(path: Path) -> None:
    """Delete a database file this process just created, and its sidecars (failed set-up)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            sidecar(path, suffix).unlink()


def connect(target: DatabaseTarget, *, create: bool) -> Connection:
    """Open ``target``: the database, the schema version found and a backup file.

    Raises :class:`DatabaseNotFoundError` when ``create`` is false and the file is
    missing (or empty), and refuses files that are not decision logs or carry a
    newer schema, before anything is written. A database that needs migrating is
    copied byte for byte (``backup_file``) before it is opened for writing. A file
    this process cannot write (or whose folder it cannot) is opened read-only.
    """
    found_version: int | None = None
    backup: Path | None = None
    read_only = False
    created = False
    path = target.sqlite_path
    if path is not None and str(path) != ":memory:":
        if path.exists():
            if path.is_dir():
                raise StoreError(f"{target.location}: is a folder, not a database file")
            if path.stat().st_size > 0:
                found_version = _check_sqlite_file(path, target.location)
            elif not create:
                raise NotADatabaseError(target.location, "an empty file, not a SQLite database")
            read_only = not _writable(path)
        elif not create:
            raise DatabaseNotFoundError(target.location)
        else:
            created = True
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"{target.location}: cannot create its folder ({error.strerror or error})"
                ) from error
        if found_version is not None and found_version > SCHEMA_VERSION:
            raise SchemaTooNewError(target.location, found_version, SCHEMA_VERSION)
        if read_only and (found_version is None or found_version < SCHEMA_VERSION):
            raise StoreError(
                f"{target.location}: read-only here, and it needs "
                f"{'setting up' if found_version is None else 'a schema upgrade'} first "
                "(open it once where it can be written); the file was left unchanged")
        if found_version is not None and found_version < SCHEMA_VERSION:
            backup = backup_file(path, found_version)
        if read_only:
            database: pw.Database = GuardedSqliteDatabase(
                _readonly_uri(path), guarded_path=path, uri=True,
                timeout=BUSY_TIMEOUT_MS / 1000,
                pragmas={"foreign_keys": 1, "busy_timeout": BUSY_TIMEOUT_MS,
                         "query_only": 1})
        else:
            database = GuardedSqliteDatabase(
                str(path), guarded_path=path, pragmas=SQLITE_PRAGMAS,
                timeout=BUSY_TIMEOUT_MS / 1000, lock_type="IMMEDIATE",
            )
    elif path is not None:
        database = pw.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1},
                                     lock_type="IMMEDIATE")
    else:
        try:
            database = connect_url(target.location)
        except Exception as error:  # db_url raises plain errors for unknown schemes
            raise StoreError(
                f"{target.display_name}: cannot open ({mask_passwords(str(error))})") from error
    try:
        database.connect(reuse_if_open=True)
    except pw.ImproperlyConfigured as error:  # the driver for a URL's scheme is missing
        hint = " (pip install 'policy-desktop[postgres]')" if "psycopg" in str(error) else ""
        raise StoreError(
            f"{target.display_name}: cannot open ({mask_passwords(str(error))}){hint}") from error
    except pw.DatabaseError as error:
        if created and path is not None:
            remove_created(path)
        message = mask_passwords(str(error).replace(target.location, target.display_name))
        failure = explain(error, target.display_name)
        if failure is not None:
            raise failure from error
        raise StoreError(f"{target.display_name}: cannot open ({message})") from error
    return Connection(database, found_version, backup, read_only, created)


def backup_file(path: Path, from_version: int) -> Path:
    """Copy a SQLite file next to itself before a migration; return the copy's path.

    A file with no log or journal beside it, that no connection of this process has
    open, is copied byte for byte; otherwise SQLite's backup API copies a consistent
    snapshot (a plain copy would open and close the file and release SQLite's locks).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.name}.v{from_version}-{stamp}.bak")
    counter = 1
    while backup.exists():
        counter += 1
        backup = path.with_name(f"{path.name}.v{from_version}-{stamp}-{counter}.bak")
    try:
        if not _in_use(path) and not GUARD.is_live(path):
            shutil.copy2(path, backup)
            return backup
        source = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            destination = sqlite3.connect(str(backup))
            try:
                source.backup(destination)
            finally:
                destination.close()
        finally:
            source.close()
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"{path}: cannot back up before migrating ({error})") from error
    return backup
