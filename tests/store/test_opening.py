"""Opening databases: paths and URLs, refusing foreign or newer files, migrating seed files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from store_helpers import (
    create_seed_database,
    files_in,
    make_decision,
    raw_query,
    raw_rows,
)

from policy_desktop.store import (
    DatabaseNotFoundError,
    NotADatabaseError,
    PolicyDecisionLog,
    SchemaTooNewError,
    StoreError,
)
from policy_desktop.store.schema import (
    ADDED_COLUMNS,
    REVIEW_LABEL_COLUMNS,
    SCHEMA_VERSION,
    bind_models,
)

# --- paths and URLs ----------------------------------------------------------------------------


def test_open_by_path_string_and_path_object(tmp_path: Path) -> None:
    with PolicyDecisionLog(str(tmp_path / "a.db")) as log:
        decision_id = log.log_decision(make_decision())
    with PolicyDecisionLog(tmp_path / "a.db") as log:
        assert log.get_decision(decision_id) is not None
        assert log.display_name == str(tmp_path / "a.db")


def test_open_by_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with PolicyDecisionLog("sqlite:///relative.db") as log:
        decision_id = log.log_decision(make_decision())
    assert (tmp_path / "relative.db").is_file()
    with PolicyDecisionLog(tmp_path / "relative.db") as log:
        assert log.get_decision(decision_id) is not None


def test_open_by_absolute_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "sub dir" / "abs.db"
    url = f"sqlite:///{path}"  # sqlite:////tmp/... : four slashes for an absolute path
    assert url.startswith("sqlite:////")
    with PolicyDecisionLog(url) as log:
        decision_id = log.log_decision(make_decision())
    assert path.is_file()
    assert raw_query(path, "SELECT decision_id FROM decisions") == [(decision_id,)]
    with PolicyDecisionLog(path) as log:
        assert log.get_decision(decision_id) is not None


def test_in_memory_database() -> None:
    with PolicyDecisionLog("sqlite:///:memory:") as log:
        decision_id = log.log_decision(make_decision())
        assert log.get_decision(decision_id) is not None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite://relative.db", "nosuchdb://x/y"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        PolicyDecisionLog(url)
    assert url in str(caught.value)


def test_server_url_errors_hide_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        PolicyDecisionLog("postgresql://ann:s3cret@127.0.0.1:1/decisions")
    message = str(caught.value)
    assert "s3cret" not in message
    assert "postgresql://ann:***@127.0.0.1:1/decisions" in message


def test_schema_sql_is_portable_to_postgres() -> None:
    """The same models generate valid PostgreSQL DDL and queries (no server needed)."""
    database = pw.PostgresqlDatabase("decisions")
    models = bind_models(database)
    context = database.get_sql_context()
    ddl = context.sql(models.Decision._schema._create_table()).query()[0]
    assert '"decision_id" TEXT PRIMARY KEY' in ddl
    assert '"reasoning_coverage" DOUBLE PRECISION' in ddl  # 8-byte floats, not 4-byte real
    assert '"prompt_tokens" BIGINT' in ddl
    query = models.Decision.select().where(models.Decision.reviewed == 0).order_by(
        models.Decision.timestamp.desc()).limit(200)
    sql, params = query.sql()
    assert "%s" in sql and params == [0, 200]


def test_url_and_path_reach_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "same.db"
    with PolicyDecisionLog(path) as log:
        ids = [log.log_decision(make_decision(i)) for i in range(3)]
    with PolicyDecisionLog(f"sqlite:///{path}") as log:
        assert sorted(d.decision_id for d in log.get_all_decisions()) == sorted(ids)


# --- refusing files ----------------------------------------------------------------------------


def _newer_schema(path: Path) -> None:
    with PolicyDecisionLog(path) as log:
        log.log_decision(make_decision())
    connection = sqlite3.connect(path)
    connection.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                       (str(SCHEMA_VERSION + 1),))
    connection.commit()
    connection.close()


def _foreign_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE bookmarks (url TEXT)")
    connection.execute("INSERT INTO bookmarks VALUES ('https://example.com')")
    connection.commit()
    connection.close()


REFUSED: dict[str, tuple[Any, type[StoreError], str]] = {
    "text": (lambda p: p.write_text("decision_id,decision\nx,allow\n"), NotADatabaseError,
             "not a SQLite database"),
    "jsonl": (lambda p: p.write_text(json.dumps({"decision": "allow"}) + "\n"),
              NotADatabaseError, "not a SQLite database"),
    "binary": (lambda p: p.write_bytes(bytes(range(256)) * 64), NotADatabaseError,
               "not a SQLite database"),
    "truncated-sqlite": (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50),
                         NotADatabaseError, "not a SQLite database"),
    "garbage-sqlite": (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8192),
                       NotADatabaseError, "not a SQLite database"),
    "newer-schema": (_newer_schema, SchemaTooNewError, "newer than this program knows"),
    "foreign-sqlite": (_foreign_sqlite, NotADatabaseError, "not a decision log"),
}


@pytest.mark.parametrize("create", [True, False], ids=["create", "read-only"])
@pytest.mark.parametrize("kind", list(REFUSED))
def test_refused_file_is_left_byte_for_byte_unchanged(tmp_path: Path, kind: str,
                                                      create: bool) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "decisions.db"
    make, error_type, message = REFUSED[kind]
    make(path)
    before = path.read_bytes()
    listing = files_in(folder)
    assert listing == {"decisions.db"}
    with pytest.raises(error_type) as caught:
        PolicyDecisionLog(path, create=create)
    text = str(caught.value)
    assert message in text
    assert str(path) in text and "\n" not in text
    assert path.read_bytes() == before
    assert files_in(folder) == listing  # no -wal, -shm or -journal appeared


def test_newer_schema_error_names_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _newer_schema(path)
    with pytest.raises(SchemaTooNewError) as caught:
        PolicyDecisionLog(path)
    assert (caught.value.found, caught.value.known) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)


def test_refused_while_another_connection_is_open(tmp_path: Path) -> None:
    """A newer database that another program has open (its -wal/-shm exist) is not touched."""
    path = tmp_path / "busy.db"
    _newer_schema(path)
    other = sqlite3.connect(path)
    try:
        other.execute("PRAGMA journal_mode=wal")
        other.execute("CREATE TABLE IF NOT EXISTS x (y)")
        other.commit()
        before = (path.read_bytes(), files_in(tmp_path))
        with pytest.raises(SchemaTooNewError):
            PolicyDecisionLog(path)
        assert (path.read_bytes(), files_in(tmp_path)) == before
    finally:
        other.close()


def test_missing_file_is_not_created_when_read_only(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "typo.db"
    with pytest.raises(DatabaseNotFoundError) as caught:
        PolicyDecisionLog(path, create=False)
    assert str(path) in str(caught.value)
    assert not (tmp_path / "no").exists()
    with pytest.raises(DatabaseNotFoundError):
        PolicyDecisionLog(f"sqlite:///{path}", create=False)
    assert files_in(tmp_path) == set()


def test_a_file_this_process_cannot_write_opens_read_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads work; a write is refused with a clear error and changes nothing (tests run as
    root, who may write any file, so the permission check is told so)."""
    from policy_desktop.store import database as store_database

    path = tmp_path / "decisions.db"
    with PolicyDecisionLog(path) as log:
        log.log_decision(make_decision())
    monkeypatch.setattr(store_database, "_writable", lambda _path: False)
    with PolicyDecisionLog(path) as log:
        assert log.read_only
        assert len(log.get_all_decisions()) == 1
        with pytest.raises(StoreError, match="cannot be written here"):
            log.log_decision(make_decision())
    monkeypatch.undo()
    with PolicyDecisionLog(path) as log:
        assert not log.read_only and len(log.get_all_decisions()) == 1


def test_missing_file_is_created_with_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "decisions.db"
    with PolicyDecisionLog(path) as log:
        assert log.get_statistics()["total"] == 0
        assert log.backup_path is None
    assert path.is_file()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(NotADatabaseError, match="empty file"):
        PolicyDecisionLog(path, create=False)
    assert path.read_bytes() == b"" and files_in(tmp_path) == {"empty.db"}
    with PolicyDecisionLog(path) as log:  # an explicit create may use it
        log.log_decision(make_decision())
    assert raw_query(path, "SELECT count(*) FROM decisions") == [(1,)]


def test_empty_sqlite_database_gets_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE scratch (x)")
    connection.execute("DROP TABLE scratch")
    connection.close()
    assert path.stat().st_size > 0
    with PolicyDecisionLog(path, create=False) as log:
        assert log.get_statistics()["total"] == 0


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        PolicyDecisionLog(tmp_path)


# --- migrating a seed-era database ---------------------------------------------------------------

SEED_ROWS: list[dict[str, Any]] = [
    {"decision_id": "dec_2025-11-03T0900_aaaa0001", "timestamp": "2025-11-03T09:00:01.5",
     "situation": {"actor": "ann", "action": "read", "target": "wiki"},
     "team_context": "docs team", "model_name": "gemma-3-270m", "model_version": "Q4_K_M",
     "prompt_version": "v1", "decision": "allow", "reasoning": "Reading docs is fine.",
     "expected_decision": "allow", "decision_correct": 1, "reasoning_coverage": 0.8,
     "scenario_id": "E01", "tags": ["quick"]},
    {"decision_id": "dec_2025-11-03T0901_aaaa0002", "timestamp": "2025-11-03T09:01:00",
     "situation": {"actor": "bob", "action": "delete", "target": "prod-db"},
     "model_name": "gemma-3-270m", "model_version": "Q4_K_M", "prompt_version": "v1",
     "decision": "allow", "reasoning": "Bob is an admin.", "expected_decision": "deny",
     "decision_correct": 0, "reasoning_coverage": 0.1, "reviewed": 1, "review_decision": "deny",
     "review_reasoning": "Deleting production needs a change ticket.",
     "review_timestamp": "2025-11-04T10:00:00", "scenario_id": "E02", "tags": []},
    {"decision_id": "dec_2025-11-03T0902_aaaa0003", "timestamp": "2025-11-03T09:02:00",
     "situation": {"actor": "cy", "action": "read", "target": "payroll"},
     "model_name": "gemma-3-270m", "model_version": "Q4_K_M", "prompt_version": "v1",
     "decision": "require_mfa", "reasoning": "Sensitive.", "reviewed": 1,
     "review_decision": "require_mfa", "review_reasoning": "Sensitive.",
     "review_timestamp": "2025-11-04T10:01:00", "tags": ["hr"]},
    {"decision_id": "dec_2025-11-03T0903_aaaa0004", "timestamp": "2025-11-03T09:03:00",
     "situation": {"actor": "dee", "action": "write", "target": "ci"},
     "model_name": "gemma-3-270m", "model_version": "Q4_K_M", "prompt_version": "v1",
     "decision": "deny", "reasoning": "Unknown actor.", "reviewed": 1,
     "review_decision": "deny", "review_reasoning": "Dee is not in the CI group.",
     "review_timestamp": "2025-11-04T10:02:00"},
    {"decision_id": "dec_2025-11-03T0904_aaaa0005", "timestamp": "2025-11-03T09:04:00",
     "situation": {"actor": "eve", "action": "read", "target": "secrets"},
     "model_name": "gemma-3-270m", "model_version": "Q4_K_M", "prompt_version": "v1",
     "decision": "unparseable", "full_response": "I think... maybe?", "reviewed": 0},
]
EXPECTED_ACTIONS = {
    "dec_2025-11-03T0901_aaaa0002": "correct_both",
    "dec_2025-11-03T0902_aaaa0003": "accept",
    "dec_2025-11-03T0903_aaaa0004": "correct_reasoning",
}


@pytest.fixture
def seed_db(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    folder.mkdir()
    path = folder / "policy_decisions.db"
    create_seed_database(path, SEED_ROWS)
    return path


def test_seed_database_is_upgraded(seed_db: Path) -> None:
    old_bytes = seed_db.read_bytes()
    old_rows = raw_rows(seed_db)
    with PolicyDecisionLog(seed_db) as log:
        backup = log.backup_path
        assert backup is not None and backup.parent == seed_db.parent
        assert backup.name.startswith("policy_decisions.db.v1-")
        assert backup.read_bytes() == old_bytes  # the old file, byte for byte
        stats = log.get_statistics()
        assert (stats["total"], stats["reviewed"], stats["corrections"]) == (5, 3, 2)
        for decision_id, action in EXPECTED_ACTIONS.items():
            stored = log.get_decision(decision_id)
            assert stored is not None and stored.review_action == action
            history = log.get_review_history(decision_id)
            assert [event.action for event in history] == [action]
            assert history[0].review_decision == stored.review_decision
            assert history[0].timestamp == stored.review_timestamp
        unreviewed = log.get_decision("dec_2025-11-03T0900_aaaa0001")
        assert unreviewed is not None and unreviewed.review_action is None
        assert log.get_review_history("dec_2025-11-03T0900_aaaa0001") == []
        assert unreviewed.situation == SEED_ROWS[0]["situation"]
        assert unreviewed.tags == ["quick"] and unreviewed.decision_correct is True
    assert raw_query(seed_db, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]
    columns = [row[1] for row in raw_query(seed_db, "PRAGMA table_info(decisions)")]
    assert columns[21:] == [*ADDED_COLUMNS, "timestamp_text", *REVIEW_LABEL_COLUMNS]
    # Every seed column of every row is unchanged, but for the timestamp: that holds the
    # UTC instant (so that text order is time order), the text as given is kept beside it.
    new_rows = raw_rows(seed_db)
    assert [{k: row[k] if k != "timestamp" else row["timestamp_text"] or row[k]
             for k in old_rows[0]} for row in new_rows] == old_rows
    assert all(row["timestamp"].endswith("+00:00") for row in new_rows)
    assert raw_query(backup, "SELECT count(*) FROM decisions") == [(5,)]
    assert raw_query(backup, "SELECT count(*) FROM sqlite_master WHERE name = 'reviews'") == [
        (0,)]


def test_undo_works_on_migrated_reviews(seed_db: Path) -> None:
    with PolicyDecisionLog(seed_db) as log:
        restored = log.undo_review("dec_2025-11-03T0901_aaaa0002")
        assert restored.reviewed is False and restored.review_decision is None
        assert restored.decision == "allow" and restored.reasoning == "Bob is an admin."
        assert [e.action for e in log.get_review_history("dec_2025-11-03T0901_aaaa0002")] == [
            "correct_both", "undo"]
        assert log.get_statistics()["corrections"] == 1
        assert log.mark_reviewed("dec_2025-11-03T0900_aaaa0001", "deny") == "correct_decision"


def test_migration_happens_once(seed_db: Path) -> None:
    PolicyDecisionLog(seed_db).close()
    backups = files_in(seed_db.parent)
    with PolicyDecisionLog(seed_db) as log:
        assert log.backup_path is None
        assert len(log.get_review_history("dec_2025-11-03T0902_aaaa0003")) == 1
    assert files_in(seed_db.parent) == backups
    assert raw_query(seed_db, "SELECT count(*) FROM reviews") == [(3,)]


def test_seed_database_opened_read_only_is_upgraded_too(seed_db: Path) -> None:
    with PolicyDecisionLog(seed_db, create=False) as log:
        assert log.backup_path is not None
        assert log.get_statistics()["total"] == 5


def test_seed_writers_still_work_after_the_upgrade(seed_db: Path) -> None:
    """Old code inserting only the seed's columns keeps working (added columns are NULL)."""
    PolicyDecisionLog(seed_db).close()
    connection = sqlite3.connect(seed_db)
    connection.execute(
        "INSERT INTO decisions (decision_id, timestamp, situation, model_name, model_version, "
        "prompt_version, decision) VALUES ('old-writer', '2026-01-01T00:00:00', '{}', 'm', "
        "'v', 'p', 'deny')")
    connection.commit()
    connection.close()
    with PolicyDecisionLog(seed_db) as log:
        stored = log.get_decision("old-writer")
        assert stored is not None and stored.reviewed is False and stored.tags == []
        assert log.mark_reviewed("old-writer") == "accept"
