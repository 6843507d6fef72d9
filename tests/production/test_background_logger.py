"""BackgroundLogger: never waits for the database, stores everything or spills it to JSONL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from production_helpers import ROOT, WriteLockHolder, decision

from policy_desktop.store import InvalidRecordError, PolicyDecision, PolicyDecisionLog
from policy_desktop.store.background import REASON_KEY, BackgroundLogger
from policy_desktop.store.file_guard import LiveDatabaseFileError
from policy_desktop.store.jsonl import import_files


def _count(path: Path) -> int:
    with PolicyDecisionLog(path) as log:
        return int(log.get_statistics()["total"])


def _p99(latencies: list[float]) -> float:
    return sorted(latencies)[int(len(latencies) * 0.99)]


def _spilled(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_stores_every_decision_in_batches(db_path: Path) -> None:
    with BackgroundLogger(db_path, batch_size=300, flush_interval=0.05) as logger:
        ids = [logger.log(decision(i)) for i in range(2_000)]
    stats = logger.stats()
    assert (stats.accepted, stats.stored, stats.spilled, stats.pending) == (2_000, 2_000, 0, 0)
    assert stats.complete
    with PolicyDecisionLog(db_path) as log:
        stored = log.get_decisions(ids)
    assert len(stored) == 2_000 == len(set(ids))
    assert stored[ids[7]].situation == {"actor": "user7", "action": "read", "target": "doc/7"}
    assert not logger.spill_path.exists()


def test_log_fills_in_id_and_timestamp_and_keeps_a_snapshot(db_path: Path) -> None:
    item = decision(1)
    with BackgroundLogger(db_path) as logger:
        decision_id = logger.log(item)
        assert item.decision_id == decision_id and item.timestamp is not None
        item.situation["actor"] = "changed later"
        item.decision = "allow"
    with PolicyDecisionLog(db_path) as log:
        stored = log.get_decision(decision_id)
    assert stored is not None
    assert (stored.situation["actor"], stored.decision) == ("user1", "deny")


def test_invalid_decision_is_refused_at_once(db_path: Path) -> None:
    with BackgroundLogger(db_path) as logger:
        with pytest.raises(InvalidRecordError, match="decision 'maybe'"):
            logger.log(decision(1, decision="maybe"))
        with pytest.raises(InvalidRecordError, match="situation cannot be stored as JSON"):
            logger.log(decision(2, situation={"when": object()}))
    assert logger.stats().accepted == 0
    assert _count(db_path) == 0


def test_log_after_close_raises(db_path: Path) -> None:
    logger = BackgroundLogger(db_path)
    logger.close()
    with pytest.raises(RuntimeError, match="closed"):
        logger.log(decision(1))
    assert logger.close().accepted == 0  # idempotent


def test_flush_waits_until_stored(db_path: Path) -> None:
    with BackgroundLogger(db_path, flush_interval=30.0) as logger:
        for i in range(50):
            logger.log(decision(i))
        assert logger.flush(timeout=10)
        assert _count(db_path) == 50


def test_a_decision_the_database_refuses_is_spilled_and_the_rest_stored(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.log_decision(decision(0, decision_id="dec_taken"))
    reported: list[tuple[list[str | None], str]] = []
    with BackgroundLogger(db_path, flush_interval=0.5,
                          on_unstored=lambda ds, why: reported.append(
                              ([d.decision_id for d in ds], why))) as logger:
        for i in range(1, 6):
            logger.log(decision(i, decision_id="dec_taken" if i == 3 else None))
    stats = logger.stats()
    assert (stats.accepted, stats.stored, stats.spilled) == (5, 4, 1)
    assert _count(db_path) == 5
    lines = _spilled(logger.spill_path)
    assert [line["decision_id"] for line in lines] == ["dec_taken"]
    assert "refused" in str(lines[0][REASON_KEY])
    assert reported and reported[0][0] == ["dec_taken"]


def test_held_write_lock_does_not_slow_the_caller_and_is_retried(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    logger = BackgroundLogger(db_path, flush_interval=0.02, lock_wait=0.1)
    with WriteLockHolder(db_path):
        latencies = []
        for i in range(3_000):
            started = time.perf_counter()
            logger.log(decision(i))
            latencies.append(time.perf_counter() - started)
        deadline = time.monotonic() + 10
        while logger.stats().retries < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logger.stats().retries >= 2
        assert "locked" in str(logger.stats().last_error)
        assert logger.stats().stored == 0
        # a call that waited for the database would take lock_wait (100 ms) or more
        assert _p99(latencies) < 0.02, f"p99 {_p99(latencies) * 1000:.1f} ms under the lock"
    assert logger.flush(timeout=30)
    stats = logger.close()
    assert (stats.stored, stats.spilled) == (3_000, 0)
    assert _count(db_path) == 3_000


def test_lock_held_past_close_timeout_spills_everything_for_import(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    logger = BackgroundLogger(db_path, batch_size=100, lock_wait=0.1, close_timeout=0.5)
    with WriteLockHolder(db_path):
        ids = [logger.log(decision(i)) for i in range(1_000)]
        started = time.monotonic()
        stats = logger.close()
        assert time.monotonic() - started < 10
    assert (stats.stored, stats.spilled, stats.lost) == (0, 1_000, 0)
    lines = _spilled(logger.spill_path)
    assert sorted(line["decision_id"] for line in lines) == sorted(ids)
    assert all("unavailable" in str(line[REASON_KEY]) for line in lines)
    done = subprocess.run([sys.executable, "-m", "policy_desktop", "import", "--db",
                           str(db_path), str(logger.spill_path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "imported 1000" in done.stdout
    with PolicyDecisionLog(db_path) as log:
        first = import_files(log, [logger.spill_path])
        again = import_files(log, [logger.spill_path])
        assert (first.imported, first.invalid, again.imported, again.duplicates) == (
            0, 0, 0, 1_000)
        assert set(log.get_decisions(ids)) == set(ids)


def test_full_queue_spills_without_waiting(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    reasons: list[str] = []
    logger = BackgroundLogger(db_path, queue_size=20, batch_size=5, lock_wait=0.1,
                              on_unstored=lambda ds, why: reasons.extend([why] * len(ds)))
    with WriteLockHolder(db_path):
        latencies = []
        ids = []
        for i in range(200):
            started = time.perf_counter()
            ids.append(logger.log(decision(i)))
            latencies.append(time.perf_counter() - started)
        spilled = logger.stats().spilled
        assert 200 - 20 - 5 <= spilled <= 200 - 20  # at most one batch left the queue
        assert len(reasons) == spilled and all("queue was full" in r for r in reasons)
        assert _p99(latencies) < 0.02
    stats = logger.close()
    assert stats.stored + stats.spilled == 200 and stats.lost == 0
    assert _count(db_path) == stats.stored
    with PolicyDecisionLog(db_path) as log:
        result = import_files(log, [logger.spill_path])
        assert (result.imported, result.invalid, result.conflicts) == (spilled, 0, 0)
        assert set(log.get_decisions(ids)) == set(ids)


def test_spills_are_summarised_not_logged_one_by_one(
        db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    PolicyDecisionLog(db_path).close()
    logger = BackgroundLogger(db_path, queue_size=5, batch_size=5, lock_wait=0.1,
                              close_timeout=0.2)
    with WriteLockHolder(db_path), caplog.at_level("WARNING"):
        for i in range(500):
            logger.log(decision(i))
        stats = logger.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert stats.spilled == 500
    assert 2 <= len(warnings) <= 3  # the first spill, then one summary at close
    assert sum(int(message.split()[0]) for message in warnings) == 500
    assert "queue was full" in warnings[0] and "policy-desktop import" in warnings[0]


def test_an_unwritable_spill_file_counts_as_lost_and_prints_the_decision(
        db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    PolicyDecisionLog(db_path).close()
    (tmp_path / "a-file").write_text("not a folder")
    logger = BackgroundLogger(db_path, queue_size=1, batch_size=1, lock_wait=0.1,
                              close_timeout=0.2, spill_path=tmp_path / "a-file" / "x.jsonl")
    with WriteLockHolder(db_path):
        ids = [logger.log(decision(i)) for i in range(5)]
        stats = logger.close()
    assert (stats.stored, stats.spilled, stats.lost) == (0, 0, 5)
    err = capsys.readouterr().err
    assert all(f"decision {i} is lost" in err for i in ids)


def test_many_threads_log_at_once(db_path: Path) -> None:
    with BackgroundLogger(db_path, flush_interval=0.01) as logger:
        def produce(worker: int) -> None:
            for i in range(500):
                logger.log(decision(worker * 1_000 + i))

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert logger.stats().stored == 2_000 == _count(db_path)


_EXIT_SCRIPT = """
import sys
from policy_desktop.store import PolicyDecision
from policy_desktop.store.background import BackgroundLogger

logger = BackgroundLogger(sys.argv[1], flush_interval=3600, batch_size=100_000)
for i in range(int(sys.argv[2])):
    logger.log(PolicyDecision(situation={"i": i}, model_name="m", model_version="q",
                              prompt_version="p", decision="deny"))
print(logger.stats().stored, flush=True)
# no close(): the interpreter's exit must store them
"""


@pytest.mark.parametrize("ending", ["return", "sys.exit(3)"])
def test_exit_without_close_stores_everything(db_path: Path, ending: str) -> None:
    script = _EXIT_SCRIPT + ("" if ending == "return" else "sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(db_path), "5000"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == (0 if ending == "return" else 3), done.stderr
    assert done.stdout.strip() == "0"  # nothing stored before the exit hook ran
    assert done.stderr == ""
    assert _count(db_path) == 5_000
    assert not Path(str(db_path) + ".unstored.jsonl").exists()


def test_exit_reports_spilled_decisions(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    script = _EXIT_SCRIPT.replace("flush_interval=3600, batch_size=100_000",
                                  "close_timeout=0.3, lock_wait=0.1")
    with WriteLockHolder(db_path):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(db_path),
                               "40"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0
    spill = Path(str(db_path) + ".unstored.jsonl")
    assert f"40 decisions could not be stored in {db_path}; they are in {spill}" in done.stderr
    assert len(_spilled(spill)) == 40


def test_a_passed_log_keeps_its_own_connection(db_path: Path) -> None:
    log = PolicyDecisionLog(db_path)
    with BackgroundLogger(log) as logger:
        logger.log(decision(1))
    assert log.get_statistics()["total"] == 1  # still open in this thread
    with pytest.raises(LiveDatabaseFileError):  # and still guarded against open()
        open(db_path, "rb")  # noqa: SIM115 - it must not open
    log.close()


def test_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        BackgroundLogger(":memory:")


def test_generated_ids_carry_48_random_bits(db_path: Path) -> None:
    with BackgroundLogger(db_path) as logger:
        ids = {logger.log(PolicyDecision(situation={}, model_name="m", model_version="q",
                                         prompt_version="p", decision="allow",
                                         timestamp="2026-11-27T10:00:00+00:00"))
               for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i.rsplit("_", 1)[1]) == 12 for i in ids)
