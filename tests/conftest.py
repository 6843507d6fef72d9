"""Shared test set-up: offscreen Qt, isolated user folders, fresh databases.

The backend switch: ``POLICY_DESKTOP_TEST_DB=postgresql://user:password@host:port/db``
(``tools/pg_test_server.sh start`` prints one) runs every test that opens its log
through the ``store_location`` fixture on that server, each in a fresh database; the
others stay on SQLite and are skipped there. ``sqlite_file`` marks a test that is about
the SQLite file itself (also one that asks for ``store_location``, e.g. to compare).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SERVER = os.environ.get("POLICY_DESKTOP_TEST_DB", "")
ON_SERVER = SERVER.startswith("postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_file: about the SQLite file itself (skipped on a server database)")


SERVER_FIXTURES = frozenset({"store_location", "pg_url"})
"""Fixtures through which a test reaches the server (``pg_url``: PostgreSQL-only tests)."""


@pytest.hookimpl(trylast=True)  # after the folders' own hooks have marked sqlite_file
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a server, only the tests that open their log through ``store_location`` run."""
    if not ON_SERVER:
        return
    for item in items:
        if item.get_closest_marker("sqlite_file") is not None:
            item.add_marker(pytest.mark.skip(
                reason="about the SQLite file (POLICY_DESKTOP_TEST_DB is a server)"))
        elif not SERVER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.skip(
                reason="opens no log through store_location (runs on SQLite only)"))


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


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep each test's data and settings out of the real home (the model cache stays shared)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("POLICY_DESKTOP_DB", raising=False)
    yield home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a not-yet-existing SQLite database in a temporary folder."""
    return tmp_path / "decisions.db"
