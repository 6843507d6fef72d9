"""No run stays ``running`` (issue 10, item 3) and timestamps sort by time (issue 11, item 9)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_helpers import make_decision, raw_query

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.jsonl import dump_jsonl, import_jsonl
from policy_desktop.store.run_comparison import compare_runs
from policy_desktop.store.schema import SCHEMA_VERSION

SCRIPT = Path(sys.executable).parent / "policy-desktop"

_CRASHING_RUN = """
import os, sys
from policy_desktop.store import PolicyDecisionLog, PolicyDecision
log = PolicyDecisionLog(sys.argv[1])
run_id = log.start_run(model_name="gemma", scenario_ids=["E01", "E02"])
log.log_decision(PolicyDecision(situation={"a": 1}, model_name="gemma", model_version="Q4",
                                prompt_version="v2", decision="allow", run_id=run_id,
                                scenario_id="E01"))
print(run_id, flush=True)
os.kill(os.getpid(), int(sys.argv[2]))
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_run_whose_process_died_is_interrupted_on_the_next_open(
        db_path: Path, sig: signal.Signals, capsys: pytest.CaptureFixture[str]) -> None:
    crashed = subprocess.run([sys.executable, "-c", _CRASHING_RUN, str(db_path), str(int(sig))],
                             capture_output=True, text=True, timeout=120, check=False)
    assert crashed.returncode == -sig
    run_id = crashed.stdout.strip()
    assert raw_query(db_path, "SELECT status FROM runs") == [("running",)]
    with PolicyDecisionLog(db_path) as log:
        assert log.interrupted_runs == [run_id]
        run = log.get_run(run_id)
        assert run is not None and run.status == "interrupted"
        assert run.error is not None and f"pid {run.owner_pid} on {socket.gethostname()}" in (
            run.error)
        assert run.finished is not None
        assert len(log.run_decisions(run_id)) == 1  # what finished stays logged
        assert log.get_statistics()["runs"] == {"interrupted": 1}
        mine = log.start_run(model_name="gemma")
        comparison = compare_runs(log, run_id, mine)
        assert comparison.run_a.status == "interrupted"
    with PolicyDecisionLog(db_path) as log:  # this process is alive: its run stays running
        assert log.interrupted_runs == []
        assert log.get_run(mine).status == "running"  # type: ignore[union-attr]
    assert main(["stats", "--db", str(db_path)]) == 0
    assert "Runs: interrupted 1, running 1" in capsys.readouterr().out


def test_a_reused_pid_is_not_taken_for_the_runs_process(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        reused = log.start_run(owner_pid=os.getpid(), owner_start="another-boot:12345")
        alive = log.start_run()
        assert log.close_abandoned_runs() == [reused]
        assert log.get_run(alive).status == "running"  # type: ignore[union-attr]


def test_runs_of_other_hosts_are_interrupted_only_when_silent_for_a_day(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        fresh = log.start_run(owner_host="elsewhere", owner_pid=1)
        old = log.start_run(owner_host="elsewhere", owner_pid=1)
        legacy = log.start_run(owner_host=None, owner_pid=None)
        long_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        Run = log.models.Run
        Run.update(heartbeat=long_ago).where(Run.run_id == old).execute()
        Run.update(heartbeat=None, started=long_ago).where(Run.run_id == legacy).execute()
        assert sorted(log.close_abandoned_runs()) == sorted([old, legacy])
        assert log.get_run(fresh).status == "running"  # type: ignore[union-attr]
        assert "on elsewhere and nothing logged for 48 h" in (log.get_run(old).error or "")
        # logging for a run keeps it alive (its heartbeat)
        Run.update(heartbeat=long_ago).where(Run.run_id == fresh).execute()
        log.log_decision(make_decision(1, run_id=fresh))
        assert log.close_abandoned_runs() == []


def test_a_version_2_database_is_upgraded_with_a_backup(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.log_decision(make_decision(1, timestamp="2026-02-02T09:30:00+01:00"))
        run_id = log.start_run()
    import sqlite3

    connection = sqlite3.connect(db_path)  # make it a version-2 file again
    for table, column in (("decisions", "timestamp_text"), ("runs", "owner_host"),
                          ("runs", "owner_pid"), ("runs", "owner_start"), ("runs", "heartbeat")):
        connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    connection.execute("UPDATE decisions SET timestamp = '2026-02-02T09:30:00+01:00'")
    connection.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    before = db_path.read_bytes()
    with PolicyDecisionLog(db_path) as log:
        assert log.backup_path is not None and log.backup_path.read_bytes() == before
        stored = log.get_all_decisions()[0]
        assert stored.timestamp == "2026-02-02T09:30:00+01:00"
        assert log.get_run(run_id).status == "running"  # type: ignore[union-attr]
    assert raw_query(db_path, "SELECT timestamp, timestamp_text FROM decisions") == [
        ("2026-02-02T08:30:00.000000+00:00", "2026-02-02T09:30:00+01:00")]
    assert raw_query(db_path, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)]


TIMES = {
    "utc": "2026-02-02T08:00:00+00:00",         # 08:00 UTC
    "offset": "2026-02-02T08:30:00+05:00",      # 03:30 UTC: the earliest
    "zulu": "2026-02-02T08:00:00.5Z",           # 08:00:00.5 UTC
    "week": "2026-W06-1T07:00:00+00:00",        # Monday of week 6 = 2026-02-02, 07:00 UTC
    "naive": "2026-02-02T07:30:00",             # taken as UTC
}


def test_timestamps_sort_by_instant_and_keep_their_text(db_path: Path) -> None:
    lines = "".join(json.dumps({"timestamp": text, "situation": {"k": key}, "model_name": "m",
                                "model_version": "v", "prompt_version": "p",
                                "decision": "allow"}) + "\n" for key, text in TIMES.items())
    with PolicyDecisionLog(db_path) as log:
        result = import_jsonl(log, io.StringIO(lines), "times.jsonl")
        assert result.imported == 5 and result.ok
        oldest_first = [d.situation["k"] for d in log.iter_decisions()]
        assert oldest_first == ["offset", "week", "naive", "utc", "zulu"]
        assert {d.situation["k"]: d.timestamp for d in log.iter_decisions()} == TIMES
        newest = log.get_all_decisions(limit=1)[0]
        assert newest.situation["k"] == "zulu"
        out = io.StringIO()
        dump_jsonl(log, out)
    assert [json.loads(line)["timestamp"] for line in out.getvalue().splitlines()] == [
        TIMES[k] for k in oldest_first]
    again = PolicyDecisionLog(db_path.with_name("again.db"))
    with again:
        assert import_jsonl(again, io.StringIO(out.getvalue()), "dump").imported == 5
        assert import_jsonl(again, io.StringIO(lines), "times.jsonl").duplicates == 5
