"""The store tests on either backend (the switch and ``store_location`` are in
``tests/conftest.py``).

A store test that does not open its log through ``store_location``, or also asks for
``db_path`` (to read the file, its sidecars or its bytes), is about the SQLite file
itself: marked ``sqlite_file`` here, so it is skipped on a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent != here or item.module.__name__ == "test_postgres":
            continue
        names = item.fixturenames
        marked = item.get_closest_marker("sqlite_file") is not None  # e.g. SQLite query plans
        if marked or "store_location" not in names or "db_path" in names:
            item.add_marker(pytest.mark.sqlite_file)

