"""PostgreSQL as a backend (issue 14, item 1), on a real server.

Set ``POLICY_DESKTOP_TEST_DB=postgresql://user:password@host:port/db`` (``tools/
pg_test_server.sh start`` prints one); each test gets a fresh database on that server.
Without it these tests are skipped, saying why. ``mask_passwords`` needs no server.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from store_helpers import make_decision

from policy_desktop.store import InvalidRecordError, PolicyDecisionLog, StoreError, mask_passwords
from policy_desktop.store.jsonl import import_jsonl
from policy_desktop.store.schema import SCHEMA_VERSION

SERVER = os.environ.get("POLICY_DESKTOP_TEST_DB", "")
needs_server = pytest.mark.skipif(
    not SERVER.startswith("postgres"),
    reason="no PostgreSQL server: set POLICY_DESKTOP_TEST_DB (tools/pg_test_server.sh start)")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL of a new, empty database on the test server (dropped afterwards)."""
    import psycopg2

    name = f"policy_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(SERVER, name)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@needs_server
def test_a_fresh_server_database_opens_and_round_trips(pg_url: str) -> None:
    decision = make_decision(1, decision="allow", confidence=0.123456789,
                             reasoning_coverage=0.987654321, seconds=1.0000001,
                             prompt_tokens=2**63 - 1,
                             timestamp="2026-02-02T09:30:00+01:00")
    with PolicyDecisionLog(pg_url) as log:
        decision_id = log.log_decision(decision)
        log.mark_reviewed(decision_id, "deny", "No.", reviewer="ann")
        rows = log.database.execute_sql(
            "SELECT value FROM store_meta WHERE key = 'schema_version'").fetchall()
        assert rows == [(str(SCHEMA_VERSION),)]
    with PolicyDecisionLog(pg_url) as log:
        stored = log.get_decision(decision_id)
        assert stored is not None
        assert (stored.confidence, stored.reasoning_coverage, stored.seconds) == (
            0.123456789, 0.987654321, 1.0000001)
        assert stored.prompt_tokens == 2**63 - 1
        assert stored.timestamp == "2026-02-02T09:30:00+01:00"
        assert (stored.review_action, stored.reviewer) == ("correct_both", "ann")
        kinds = dict(log.database.execute_sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'decisions'").fetchall())
        assert kinds["confidence"] == kinds["seconds"] == "double precision"
        assert kinds["prompt_tokens"] == "bigint"


@needs_server
def test_two_clients_set_up_one_database_at_once(pg_url: str) -> None:
    code = ("import sys; from policy_desktop.store import PolicyDecisionLog\n"
            "with PolicyDecisionLog(sys.argv[1]) as log: print(log.get_statistics()['total'])\n")
    processes = [subprocess.Popen([sys.executable, "-c", code, pg_url], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(4)]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [e for _, e in results]
    assert [out.strip() for out, _ in results] == ["0"] * 4


@needs_server
def test_nul_characters_are_a_clear_per_line_error(pg_url: str) -> None:
    record = {"timestamp": "2026-02-02T08:05:12+00:00", "situation": {"a": "x\u0000y"},
              "model_name": "m", "model_version": "v", "prompt_version": "p",
              "decision": "allow"}
    lines = [json.dumps({**record, "situation": {"n": i}}) for i in range(3)]
    lines.insert(1, json.dumps({**record, "reasoning": "bad\u0000text"}))
    lines.append(json.dumps(record))  # NUL inside the situation's JSON: stored escaped
    with PolicyDecisionLog(pg_url) as log:
        result = import_jsonl(log, io.StringIO("\n".join(lines) + "\n"), "nul.jsonl")
        assert (result.imported, result.invalid) == (4, 1)
        assert str(result.problems[0]).startswith("nul.jsonl:2: reasoning contains a NUL")
        with pytest.raises(InvalidRecordError, match="NUL"):
            log.log_decision(make_decision(9, model_name="gem\x00ma"))
        assert log.get_statistics()["total"] == 4


@needs_server
def test_missing_indexes_are_created_on_open(pg_url: str) -> None:
    with PolicyDecisionLog(pg_url) as log:
        log.database.execute_sql("DROP INDEX idx_reviewed_confidence")
        log.database.execute_sql("DROP INDEX idx_time_id")
    with PolicyDecisionLog(pg_url) as log:
        names = {index.name for index in log.database.get_indexes("decisions")}
    assert {"idx_reviewed_confidence", "idx_time_id"} <= names


@needs_server
def test_a_wrong_password_is_never_shown(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    wrong = urlunsplit(parts._replace(
        netloc=f"{parts.username}:not-the-Secret-42@{parts.hostname}:{parts.port}"))
    with pytest.raises(StoreError) as caught:
        PolicyDecisionLog(wrong)
    assert "not-the-Secret-42" not in str(caught.value)
    assert f"{parts.username}:***@" in str(caught.value)
    result = subprocess.run([str(os.path.dirname(sys.executable)) + "/policy-desktop", "--db",
                             wrong, "stats"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert "not-the-Secret-42" not in result.stderr + result.stdout


@pytest.mark.parametrize(("text", "masked"), [
    ("Could not open postgresql://policy:policy-pw@db.local:5432/x",
     "Could not open postgresql://policy:***@db.local:5432/x"),
    ("postgres://:pw@host/db and mysql://u:p%40ss@h/d", "postgres://:***@host/db and "
     "mysql://u:***@h/d"),
    ("host=db user=ann password=s3cret dbname=x", "host=db user=ann password=*** dbname=x"),
    ("password = 'with space' sslmode=require", "password = *** sslmode=require"),
    ("sqlite:////tmp/a.db, postgresql://ann@host/db", "sqlite:////tmp/a.db, "
     "postgresql://ann@host/db"),
])
def test_mask_passwords(text: str, masked: str) -> None:
    assert mask_passwords(text) == masked


@needs_server
def test_concurrent_imports_count_duplicates_exactly(pg_url: str, tmp_path: Path) -> None:
    PolicyDecisionLog(pg_url).close()
    record = {"timestamp": "2026-02-02T08:05:12+00:00", "model_name": "m", "model_version": "v",
              "prompt_version": "p", "decision": "allow"}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({**record, "situation": {"n": i}}) + "\n"
                         for i in range(0, 12_000)))
    b.write_text("".join(json.dumps({**record, "situation": {"n": i}}) + "\n"
                         for i in range(4_000, 16_000)))
    script = os.path.join(os.path.dirname(sys.executable), "policy-desktop")
    processes = [subprocess.Popen([script, "--db", pg_url, "import", str(path)], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for path in (a, b, a)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [e for _, e in outputs]
    totals = [dict(part.rsplit(" ", 1) for part in out.strip().split(", ")) for out, _ in outputs]
    assert sum(int(t["imported"]) for t in totals) == 16_000
    assert sum(int(t["duplicates"]) for t in totals) == 20_000
    with PolicyDecisionLog(pg_url) as log:
        assert log.get_statistics()["total"] == 16_000


@needs_server
def test_generated_ids_that_collide_are_drawn_again(pg_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    real = secrets.token_hex
    drawn = iter(range(10**6))
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: f"0000000{next(drawn) % 3}"
                        if n == 4 else real(n))
    with PolicyDecisionLog(pg_url) as log:
        assert log.log_decisions([make_decision(i) for i in range(5)]) == 5
        assert log.log_decisions([make_decision(i) for i in range(5, 10)]) == 5
        assert log.get_statistics()["total"] == 10
