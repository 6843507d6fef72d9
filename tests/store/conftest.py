"""The store tests' database switch: SQLite files by default, a PostgreSQL server on request.

``POLICY_DESKTOP_TEST_DB=postgresql://user:password@host:port/db`` (``tools/
pg_test_server.sh start`` prints one) runs the store tests that open their log through
the ``store_location`` fixture on that server, each in a fresh database. The others are
about the SQLite file itself (they open a file of their own, or also ask for ``db_path``
to read the file, its sidecars or its bytes): marked ``sqlite_file``, skipped there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER = os.environ.get("POLICY_DESKTOP_TEST_DB", "")
ON_SERVER = SERVER.startswith("postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_file: about the SQLite file itself (skipped on a server database)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent != here or item.module.__name__ == "test_postgres":
            continue
        names = item.fixturenames
        marked = item.get_closest_marker("sqlite_file") is not None  # e.g. SQLite query plans
        if marked or "store_location" not in names or "db_path" in names:
            item.add_marker(pytest.mark.sqlite_file)
            if ON_SERVER:
                item.add_marker(pytest.mark.skip(
                    reason="about the SQLite file (POLICY_DESKTOP_TEST_DB is a server)"))


@pytest.fixture
def store_location(tmp_path: Path) -> Iterator[str]:
    """Where a test's log lives: a new SQLite file, or a new database on the test server."""
    if not ON_SERVER:
        yield str(tmp_path / "decisions.db")
        return
    import psycopg2

    name = f"policy_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
