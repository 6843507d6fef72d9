"""The on-disk schema, checked with PRAGMAs on a real file: the seed's columns and indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import make_decision, raw_query

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.database import BUSY_TIMEOUT_MS
from policy_desktop.store.schema import SCHEMA_VERSION

# (name, SQL type, NOT NULL, default, primary key) of the seed's 21 columns, in order.
SEED_COLUMNS: list[tuple[str, str, int, str | None, int]] = [
    ("decision_id", "TEXT", 0, None, 1),
    ("timestamp", "TEXT", 1, None, 0),
    ("situation", "TEXT", 1, None, 0),
    ("team_context", "TEXT", 0, None, 0),
    ("model_name", "TEXT", 1, None, 0),
    ("model_version", "TEXT", 1, None, 0),
    ("prompt_version", "TEXT", 1, None, 0),
    ("decision", "TEXT", 1, None, 0),
    ("classification", "TEXT", 0, None, 0),
    ("risk_level", "TEXT", 0, None, 0),
    ("reasoning", "TEXT", 0, None, 0),
    ("full_response", "TEXT", 0, None, 0),
    ("expected_decision", "TEXT", 0, None, 0),
    ("decision_correct", "INTEGER", 0, None, 0),
    ("reasoning_coverage", "REAL", 0, None, 0),
    ("reviewed", "INTEGER", 0, "0", 0),
    ("review_decision", "TEXT", 0, None, 0),
    ("review_reasoning", "TEXT", 0, None, 0),
    ("review_timestamp", "TEXT", 0, None, 0),
    ("scenario_id", "TEXT", 0, None, 0),
    ("tags", "TEXT", 0, None, 0),
]
SEED_INDEXES = {
    "idx_timestamp": ["timestamp"],
    "idx_reviewed": ["reviewed"],
    "idx_decision_correct": ["decision_correct"],
}


@pytest.fixture
def created(db_path: Path) -> Iterator[Path]:
    """A database file created by the store (with one decision), then closed."""
    with PolicyDecisionLog(db_path) as log:
        log.log_decision(make_decision())
    yield db_path


def test_decisions_table_has_the_seeds_columns(created: Path) -> None:
    info = raw_query(created, "PRAGMA table_info(decisions)")
    columns = [(name, kind, notnull, default, pk) for _, name, kind, notnull, default, pk in info]
    assert columns[:21] == SEED_COLUMNS
    # Extra columns are allowed, but none may be required (old writers must still work).
    assert all(notnull == 0 for _, _, notnull, _, _ in columns[21:])


def test_seed_indexes_exist_on_the_right_columns(created: Path) -> None:
    indexes = {row[1]: row for row in raw_query(created, "PRAGMA index_list(decisions)")}
    for name, expected_columns in SEED_INDEXES.items():
        assert name in indexes, f"missing index {name}"
        assert indexes[name][2] == 0, f"{name} must not be UNIQUE"
        columns = [row[2] for row in raw_query(created, f"PRAGMA index_info({name})")]
        assert columns == expected_columns


def test_reviews_table_is_a_history(created: Path) -> None:
    columns = {row[1]: row for row in raw_query(created, "PRAGMA table_info(reviews)")}
    for name in ("decision_id", "reviewer", "action", "review_decision", "review_reasoning",
                 "timestamp"):
        assert name in columns
    assert columns["action"][3] == 1 and columns["timestamp"][3] == 1  # NOT NULL
    foreign = raw_query(created, "PRAGMA foreign_key_list(reviews)")
    assert [(row[2], row[3], row[4]) for row in foreign] == [
        ("decisions", "decision_id", "decision_id")]


def test_schema_version_is_recorded(created: Path) -> None:
    rows = raw_query(created, "SELECT value FROM store_meta WHERE key = 'schema_version'")
    assert rows == [(str(SCHEMA_VERSION),)]


def test_file_is_in_wal_mode(created: Path) -> None:
    assert raw_query(created, "PRAGMA journal_mode") == [("wal",)]


def test_connection_pragmas(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        def pragma(name: str) -> object:
            return log.database.execute_sql(f"PRAGMA {name}").fetchone()[0]

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == BUSY_TIMEOUT_MS
        assert BUSY_TIMEOUT_MS >= 1000


def test_foreign_keys_are_enforced(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log, pytest.raises(Exception, match="FOREIGN KEY"):
        log.models.Review.insert(decision_id="dec_missing", action="accept",
                                 timestamp="2026-02-02T08:05:00+00:00").execute()


def test_pragmas_apply_in_every_thread(db_path: Path) -> None:
    import threading

    seen: list[tuple[object, object]] = []
    with PolicyDecisionLog(db_path) as log:
        def read() -> None:
            database = log.database
            seen.append((database.execute_sql("PRAGMA foreign_keys").fetchone()[0],
                         database.execute_sql("PRAGMA busy_timeout").fetchone()[0]))
            log.close()

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert seen == [(1, BUSY_TIMEOUT_MS)]


def test_reopening_changes_nothing(created: Path) -> None:
    before = raw_query(created, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    with PolicyDecisionLog(created) as log:
        assert log.backup_path is None
    after = raw_query(created, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    assert after == before


def test_store_uses_portable_sql_types(created: Path) -> None:
    """Only the types every SQL database knows; no SQLite-only column types."""
    for table in ("decisions", "reviews", "runs", "store_meta"):
        for row in raw_query(created, f"PRAGMA table_info({table})"):
            assert row[2] in ("TEXT", "INTEGER", "REAL"), (table, row)


def test_plain_sqlite3_can_read_what_the_store_wrote(created: Path) -> None:
    connection = sqlite3.connect(created)
    try:
        situation, tags = connection.execute("SELECT situation, tags FROM decisions").fetchone()
    finally:
        connection.close()
    assert situation.startswith("{") and tags.startswith("[")
