"""Clear errors, not tracebacks, and the file untouched (issue 11, item 8)."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import files_in, make_decision, raw_query

from policy_desktop.store import NotADatabaseError, PolicyDecisionLog, StoreError
from policy_desktop.store.failures import DatabaseFailure
from policy_desktop.store.jsonl import import_jsonl

SCRIPT = Path(sys.executable).parent / "policy-desktop"
VALID = {"timestamp": "2026-02-02T08:05:12+00:00", "model_name": "gemma", "model_version": "Q4",
         "prompt_version": "v2", "decision": "allow", "reasoning": "r" * 400}


def jsonl_text(count: int, start: int = 0) -> str:
    return "".join(json.dumps({**VALID, "situation": {"actor": f"user{i}"}}) + "\n"
                   for i in range(start, start + count))


def cli(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          check=False, **options)  # type: ignore[call-overload]


def test_disk_full_during_import_is_one_clear_error(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.database.execute_sql("PRAGMA max_page_count = 200")  # about 800 KB: a full disk
        with pytest.raises(DatabaseFailure, match="the disk is full") as caught:
            import_jsonl(log, io.StringIO(jsonl_text(20_000)), "big.jsonl")
        assert "cannot rollback" not in str(caught.value)
        stored = log.get_statistics()["total"]
    assert stored % 5_000 == 0  # whole batches only
    assert raw_query(db_path, "SELECT COUNT(*) FROM decisions") == [(stored,)]
    assert raw_query(db_path, "PRAGMA integrity_check") == [("ok",)]


def test_a_write_lock_held_too_long_is_one_clear_error(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        decision_id = log.log_decision(make_decision())
        log.database.execute_sql("PRAGMA busy_timeout = 200")
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseFailure, match="the database is busy"):
                log.mark_reviewed(decision_id, "deny", reviewer="ann")
            with pytest.raises(DatabaseFailure, match="the database is busy"):
                log.log_decision(make_decision(2))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        log.mark_reviewed(decision_id, "deny", reviewer="ann")
        assert log.get_statistics()["reviewed"] == 1


def _damage(path: Path) -> None:
    """Overwrite pages in the middle of the file (as a failing disk would)."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        for offset in range(size // 3, size * 2 // 3, 4096):
            handle.seek(offset)
            handle.write(os.urandom(2048))


def test_dump_of_a_damaged_database_ends_with_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    with PolicyDecisionLog(path) as log:
        log.log_decisions([make_decision(i, reasoning="x" * 300) for i in range(3000)])
    _damage(path)
    result = cli("dump", "--db", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "database file is damaged" in result.stderr


def test_a_foreign_file_with_a_decisions_table_is_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, verdict TEXT)")
    connection.execute("INSERT INTO decisions (verdict) VALUES ('guilty')")
    connection.commit()
    connection.close()
    before = path.read_bytes()
    for _ in range(2):
        with pytest.raises(NotADatabaseError, match="not a decision log"):
            PolicyDecisionLog(path)
        result = cli("stats", "--db", str(path))
        assert result.returncode == 1 and "Traceback" not in result.stderr
    assert path.read_bytes() == before
    assert files_in(tmp_path) == {"other.db"}


def test_a_database_that_cannot_be_written_opens_for_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only file or folder: ``stats``, ``dump`` and reading work, writes fail clearly.

    The tests run as root, whom permissions do not stop, so the permission check itself
    answers "not writable" here; the file is then opened read-only (no -wal/-shm made).
    """
    from policy_desktop.cli import main
    from policy_desktop.store import database as database_module

    path = tmp_path / "decisions.db"
    with PolicyDecisionLog(path) as log:
        decision_id = log.log_decision(make_decision())
        log.mark_reviewed(decision_id, "deny", reviewer="ann")
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(database_module.os, "access", lambda p, mode: False if Path(
        p).resolve() in (path.resolve(), tmp_path.resolve()) else real_access(p, mode))
    assert main(["stats", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Total decisions: 1" in out and "Corrections: 1" in out
    assert main(["dump", "--db", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["decision_id"] == decision_id
    with PolicyDecisionLog(path) as log:
        assert log.read_only
        assert log.get_decision(decision_id) is not None
        with pytest.raises(DatabaseFailure, match="cannot be written here"):
            log.mark_reviewed(decision_id, "allow", reviewer="bob")
        with pytest.raises(DatabaseFailure, match="cannot be written here"):
            log.log_decision(make_decision(3))
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl_text(2))
    assert main(["import", "--db", str(path), str(source)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be written here" in err
    assert path.read_bytes() == before
    assert files_in(tmp_path) == {"decisions.db", "in.jsonl"}


def _file_size_limit(limit: int) -> dict[str, object]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return {"preexec_fn": apply}


def test_creating_a_database_on_a_full_disk_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl_text(3))
    path = tmp_path / "new" / "decisions.db"
    result = cli("import", "--db", str(path), str(source), **_file_size_limit(0))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not path.exists()
    assert not any(path.parent.iterdir())


def test_store_errors_name_the_database(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.database.execute_sql("PRAGMA busy_timeout = 100")
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError) as caught:
                log.start_run(model_name="m")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert str(caught.value).startswith(f"{db_path}: ")


def test_disk_full_during_reviews_is_one_clear_error_and_nothing_half_written(
        db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.log_decisions([make_decision(i, decision="allow") for i in range(300)])
        ids = [d.decision_id or "" for d in log.iter_decisions()]
        pages = log.database.execute_sql("PRAGMA page_count").fetchone()[0]
        log.database.execute_sql(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        reviewed = 0
        with pytest.raises(DatabaseFailure, match="the disk is full") as caught:
            for decision_id in ids:
                log.mark_reviewed(decision_id, "deny", "A long corrected reasoning. " * 40,
                                  reviewer="ann")
                reviewed += 1
        assert "cannot rollback" not in str(caught.value)
    assert raw_query(db_path, "SELECT COUNT(*) FROM reviews") == [(reviewed,)]
    assert raw_query(db_path, "SELECT COUNT(*) FROM decisions WHERE reviewed = 1") == [
        (reviewed,)]
    assert raw_query(db_path, "PRAGMA integrity_check") == [("ok",)]
