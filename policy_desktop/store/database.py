"""Opening a decision database: path or URL, safety checks, pragmas, schema set-up.

The checks that can refuse a file (not SQLite, schema too new) run on a
read-only connection first, so a refused file is left byte-for-byte unchanged.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import peewee as pw
from playhouse.db_url import connect as connect_url

from policy_desktop.store.errors import (
    DatabaseNotFoundError,
    NotADatabaseError,
    SchemaTooNewError,
    StoreError,
)
from policy_desktop.store.schema import SCHEMA_VERSION

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
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


def _check_sqlite_file(path: Path, location: str) -> int | None:
    """Refuse non-SQLite files; return the stored schema version (None if unversioned)."""
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise NotADatabaseError(location)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "store_meta" not in tables:
                return 1 if "decisions" in tables else None
            row = connection.execute(
                "SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise NotADatabaseError(location) from error
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError as error:
        raise StoreError(f"{location}: unreadable schema version {row[0]!r}") from error


def connect(target: DatabaseTarget, *, create: bool) -> tuple[pw.Database, int | None]:
    """Open ``target``; return the peewee database and the schema version found on disk.

    Raises :class:`DatabaseNotFoundError` when ``create`` is false and the file is
    missing, and refuses files that are not SQLite or carry a newer schema.
    """
    found_version: int | None = None
    path = target.sqlite_path
    if path is not None and str(path) != ":memory:":
        if path.exists():
            if path.is_dir():
                raise StoreError(f"{target.location}: is a folder, not a database file")
            if path.stat().st_size > 0:
                found_version = _check_sqlite_file(path, target.location)
        elif not create:
            raise DatabaseNotFoundError(target.location)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        if found_version is not None and found_version > SCHEMA_VERSION:
            raise SchemaTooNewError(target.location, found_version, SCHEMA_VERSION)
        database: pw.Database = pw.SqliteDatabase(
            str(path), pragmas=SQLITE_PRAGMAS, timeout=BUSY_TIMEOUT_MS / 1000
        )
    elif path is not None:
        database = pw.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1})
    else:
        try:
            database = connect_url(target.location)
        except Exception as error:  # db_url raises plain errors for unknown schemes
            raise StoreError(f"{target.display_name}: cannot open ({error})") from error
    try:
        database.connect(reuse_if_open=True)
    except pw.DatabaseError as error:
        raise StoreError(f"{target.display_name}: cannot open ({error})") from error
    return database, found_version


def backup_file(path: Path, from_version: int) -> Path:
    """Copy a SQLite file (checkpointed) next to itself before a migration."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.name}.v{from_version}-{stamp}.bak")
    source = sqlite3.connect(str(path))
    try:
        destination = sqlite3.connect(str(backup))
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    if not backup.exists():  # pragma: no cover - sqlite3 always writes it
        shutil.copy2(path, backup)
    return backup
