"""The database thread: one worker, results on the GUI thread in order, clean shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill

from policy_desktop.store import NotADatabaseError, PolicyDecisionLog
from policy_desktop.store.masking import mask_passwords
from policy_desktop.ui.tasks import DbExecutor, NoDatabaseError, OpenedDatabase


def test_jobs_run_on_one_worker_thread_and_results_arrive_on_the_gui_thread(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 3)
    opened: list[OpenedDatabase] = []
    executor.open(str(ui_db), on_done=opened.append)
    workers: set[str] = set()
    results: list[tuple[int, bool]] = []

    def job(number: int) -> Callable[[PolicyDecisionLog], int]:
        def run(log: PolicyDecisionLog) -> int:
            workers.add(threading.current_thread().name)
            return len(log.get_all_decisions()) + number

        return run

    for number in range(5):
        executor.submit(job(number), lambda value: results.append(
            (value, threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(lambda: len(results) == 5, timeout=WAIT_MS)
    assert opened[0].display_name == mask_passwords(ui_db)
    assert results == [(3 + n, True) for n in range(5)]  # in order, on the GUI thread
    assert len(workers) == 1 and next(iter(workers)).startswith("policy-db")
    assert executor.idle


def test_errors_go_to_on_error_or_to_the_unhandled_signal(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    errors: list[BaseException] = []
    executor.submit(lambda log: log.revision(), on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert isinstance(errors[0], NoDatabaseError)

    executor.open(str(ui_db))

    def boom(_log: PolicyDecisionLog) -> None:
        raise ValueError("boom")

    with qtbot.waitSignal(executor.unhandled_error, timeout=WAIT_MS) as blocker:
        executor.submit(boom)
    assert str(blocker.args[0]) == "boom"


def test_a_failed_open_keeps_the_previous_database(
        qtbot: QtBot, executor: DbExecutor, ui_db: str, tmp_path: Path) -> None:
    fill(ui_db, 2)
    executor.open(str(ui_db))
    bad = tmp_path / "notes.db"
    bad.write_text("not a database\n")
    errors: list[BaseException] = []
    executor.open(str(bad), on_error=errors.append)
    counts: list[int] = []
    executor.submit(lambda log: len(log.get_all_decisions()), counts.append)
    qtbot.waitUntil(lambda: bool(counts), timeout=WAIT_MS)
    assert isinstance(errors[0], NotADatabaseError)
    assert str(bad) in str(errors[0])
    assert counts == [2]
    assert bad.read_text() == "not a database\n"


def test_shutdown_joins_the_thread_and_drops_queued_jobs(
        qtbot: QtBot, ui_db: str) -> None:
    executor = DbExecutor()
    executor.open(str(ui_db))
    gate = threading.Event()
    delivered: list[object] = []
    executor.submit(lambda _log: gate.wait(5), delivered.append)
    for _ in range(10):
        executor.submit(lambda log: log.revision(), delivered.append)
    gate.set()
    executor.shutdown()
    QApplication.processEvents()
    assert delivered == []  # nothing is delivered after shutdown
    assert executor.closed and executor.idle
    assert not [t for t in threading.enumerate() if t.name.startswith("policy-db")]
    executor.submit(lambda log: log.revision(), delivered.append)  # ignored, no error
    executor.shutdown()


def test_a_call_waits_for_the_jobs_before_it_and_returns_on_the_calling_thread(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    import pytest

    ids = fill(ui_db, 2)
    with pytest.raises(NoDatabaseError):
        executor.call(lambda log: log.revision(), 5.0)  # nothing open yet
    executor.open(str(ui_db))
    executor.submit(lambda log: log.mark_reviewed(ids[0], reviewer="ann"))  # queued first
    def reviewed(log: PolicyDecisionLog) -> bool:
        decision = log.get_decision(ids[0])
        return decision is not None and decision.reviewed

    assert executor.call(reviewed, 5.0) is True  # the job queued before it has run
    with pytest.raises(KeyError):
        executor.call(lambda log: {}["missing"], 5.0)  # the job's own error
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    executor.shutdown()
    with pytest.raises(NoDatabaseError):
        executor.call(lambda log: log.revision(), 5.0)
