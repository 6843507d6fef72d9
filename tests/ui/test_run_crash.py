"""A model that crashes mid-run ends the run, never the reviewer's window.

The model's child process is killed from outside (SIGKILL as an out-of-memory kill would,
SIGSEGV as llama.cpp's AMX kernels did) while it answers the second scenario. The window
must show an error naming the model file and the signal, mark the run failed with that
reason, keep the finished decision, stay usable for reviewing, and run again.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import fake_model_servers as fakes
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from window_helpers import fill, wait_idle

from policy_desktop.engine.model_process import ModelProcess
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.loop_actions import ReviewLoop
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.review_panel import ReviewPanel
from policy_desktop.ui.run_dialog import RunDialog
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, is_text_input

pytestmark = [pytest.mark.slow, pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")]


def scripted_model(settings, on_status) -> ModelProcess:  # type: ignore[no-untyped-def]
    """The real child process with a scripted model: killable mid-answer, every time."""
    return ModelProcess(settings, on_status=on_status, target=fakes.answers)


@pytest.fixture
def loop(settings: Settings) -> Iterator[ReviewLoop]:
    controller = RunController(model_factory=scripted_model)
    yield ReviewLoop(controller, settings)
    assert controller.shutdown()


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []

    def critical(parent: object, title: str, text: str, *args: object) -> object:
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(critical))
    return shown


@pytest.fixture
def window(make_window: Callable[..., MainWindow], loop: ReviewLoop, ui_db: str) -> MainWindow:
    fill(ui_db, 3)
    parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                        is_text_input=is_text_input, loop=loop,
                        shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS))
    return make_window(ui_db, parts=parts)


def start_run(qtbot: QtBot, window: MainWindow, loop: ReviewLoop) -> RunDialog:
    loop.open_run_dialog()
    dialog = loop.run_dialog
    assert isinstance(dialog, RunDialog)
    dialog.select_subset(["E01", "E02", "M01"])
    dialog.start_run()
    return dialog


@pytest.mark.parametrize("sent", [signal.SIGKILL, signal.SIGSEGV])
def test_killed_model_fails_the_run_and_the_window_carries_on(
        qtbot: QtBot, window: MainWindow, loop: ReviewLoop, ui_db: str,
        errors: list[tuple[str, str]], sent: signal.Signals, tmp_path: Path) -> None:
    worker = loop.controller.worker

    def kill_during_the_second_answer(index: int, total: int, *_: object) -> None:
        if index == 1:
            pid = worker.model_pid
            assert pid is not None
            # Not a QTimer: this runs on the run thread, busy until the run ends.
            threading.Timer(0.3, os.kill, (pid, sent)).start()

    worker.scenario_started.connect(kill_during_the_second_answer)
    dialog = start_run(qtbot, window, loop)
    qtbot.waitUntil(lambda: bool(errors), timeout=120_000)
    worker.scenario_started.disconnect(kill_during_the_second_answer)

    title, message = errors[0]
    assert title == "Run failed"
    assert sent.name in message and "gemma3_270m" in message  # the signal and the file
    assert dialog.grab().save(str(tmp_path / f"run-dialog-crash-{sent.name}.png"))
    with PolicyDecisionLog(ui_db) as log:
        [run] = log.list_runs()
        assert run.status == "failed" and sent.name in (run.error or "")
        finished = [d for d in log.get_all_decisions() if d.run_id == run.run_id]
        assert [d.scenario_id for d in finished] == ["E01"]  # what finished stays logged

    # The window is alive: back in it, a review by key lands in the database.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=10_000)  # 3 + E01
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_A)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        assert [d.reviewer for d in log.get_all_decisions() if d.reviewed] == ["tess"]

    # The next run starts a fresh model process and completes.
    dialog.select_subset(["E01"])
    dialog.start_run()
    qtbot.waitUntil(lambda: not loop.controller.running, timeout=120_000)
    with PolicyDecisionLog(ui_db) as log:
        statuses = sorted(run.status for run in log.list_runs())
    assert statuses == ["completed", "failed"]
    assert len(errors) == 1
