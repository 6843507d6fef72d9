"""SQLite's same-process lock pitfall (issue 11, item 1): nothing opens a live database file.

Closing any descriptor of a database file releases the process's SQLite locks; another
process then deletes the write-ahead log under it and every later write is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import make_decision, raw_query

from policy_desktop.store import PolicyDecisionLog, StoreError
from policy_desktop.store.file_guard import LiveDatabaseFileError

SCRIPT = Path(sys.executable).parent / "policy-desktop"


def _outside(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result


def _outside_review(path: Path, decision_id: str, reviewer: str) -> None:
    code = ("import sys; from policy_desktop.store import PolicyDecisionLog\n"
            "with PolicyDecisionLog(sys.argv[1], create=False) as log:\n"
            "    log.mark_reviewed(sys.argv[2], 'deny', reviewer=sys.argv[3])\n")
    subprocess.run([sys.executable, "-c", code, str(path), decision_id, reviewer], check=True,
                   timeout=120)


def _wal_deleted_under(pid: int, path: Path) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    targets = []
    for name in os.listdir(fd_dir):
        try:
            targets.append(os.readlink(fd_dir / name))
        except OSError:  # the descriptor of the listing itself, gone already
            continue
    return any(t.startswith(str(path)) and t.endswith("(deleted)") for t in targets)


def test_a_second_log_on_the_same_file_keeps_the_first_ones_reviews(db_path: Path) -> None:
    """Opening (and closing) another log on the file, then another process: nothing lost."""
    first = PolicyDecisionLog(db_path)
    ids = first.log_decisions([make_decision(i) for i in range(6)]) and [
        d.decision_id for d in first.get_all_decisions()]
    first.mark_reviewed(ids[0], "deny", reviewer="ann")
    with PolicyDecisionLog(db_path, create=False) as second:  # e.g. a worker thread's own log
        assert second.get_statistics()["total"] == 6
    _outside("stats", "--db", str(db_path))  # connects and disconnects
    first.mark_reviewed(ids[1], "deny", reviewer="ann")
    _outside_review(db_path, ids[2], "bob")
    first.mark_reviewed(ids[3], "deny", reviewer="ann")
    assert not _wal_deleted_under(os.getpid(), db_path)
    first.close()
    reviewed = raw_query(db_path, "SELECT decision_id FROM decisions WHERE reviewed = 1")
    assert {row[0] for row in reviewed} == {ids[0], ids[1], ids[2], ids[3]}
    assert raw_query(db_path, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_opening_a_live_database_file_in_python_is_refused(db_path: Path, suffix: str) -> None:
    """The guard: a future ``open()`` of the live file fails loudly instead of losing writes."""
    log = PolicyDecisionLog(db_path)
    decision_id = log.log_decision(make_decision())
    target = db_path.with_name(db_path.name + suffix)
    with pytest.raises(LiveDatabaseFileError, match="refusing to open"):
        open(target, "rb").close()
    with pytest.raises(StoreError):
        os.open(target, os.O_RDONLY)
    # the sequence: the read was refused, so an outside connection changes nothing
    _outside("stats", "--db", str(db_path))
    log.mark_reviewed(decision_id, "deny", reviewer="ann")
    log.close()
    assert raw_query(db_path, "SELECT reviewed FROM decisions") == [(1,)]
    with open(db_path, "rb") as handle:  # closed: reading the file is fine again
        assert handle.read(16) == b"SQLite format 3\x00"


def test_the_guard_follows_links_and_relative_paths(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    with PolicyDecisionLog(real):
        link.symlink_to(real)
        monkeypatch.chdir(tmp_path)
        for name in (link, Path("real.db"), Path("./link.db")):
            with pytest.raises(LiveDatabaseFileError):
                name.read_bytes()
        (tmp_path / "real.db.txt").write_text("other files are not affected")


def test_two_logs_on_one_file_keep_it_guarded_until_both_close(db_path: Path) -> None:
    first = PolicyDecisionLog(db_path)
    second = PolicyDecisionLog(db_path)
    first.close()
    with pytest.raises(LiveDatabaseFileError):
        db_path.read_bytes()
    second.close()
    assert db_path.read_bytes()[:6] == b"SQLite"


def test_a_connection_of_another_thread_keeps_the_file_guarded(db_path: Path) -> None:
    import threading

    log = PolicyDecisionLog(db_path)
    opened, release = threading.Event(), threading.Event()

    def worker() -> None:
        log.get_statistics()  # this thread's own connection
        opened.set()
        release.wait(30)
        log.close()

    thread = threading.Thread(target=worker)
    thread.start()
    opened.wait(30)
    log.close()  # the main thread's connection only
    with pytest.raises(LiveDatabaseFileError):
        db_path.read_bytes()
    release.set()
    thread.join(30)
    assert db_path.read_bytes()[:6] == b"SQLite"
    log.get_statistics()  # reconnects: guarded again
    with pytest.raises(LiveDatabaseFileError):
        db_path.read_bytes()
    log.close()
