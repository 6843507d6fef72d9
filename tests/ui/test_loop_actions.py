"""Runs, the export wizard and comparison reached from the main window (keys and buttons)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from window_helpers import fill, make_decision, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.loop_actions import ReviewLoop
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.review_panel import ReviewPanel
from policy_desktop.ui.run_dialog import RunDialog
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, is_text_input


@pytest.fixture
def loop(settings: Settings) -> Iterator[ReviewLoop]:
    controller = RunController()
    yield ReviewLoop(controller, settings)
    assert controller.shutdown()


@pytest.fixture
def window_with_loop(make_window, loop: ReviewLoop):
    def build(database: str) -> MainWindow:
        parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                            is_text_input=is_text_input, loop=loop,
                            shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS))
        return make_window(database, parts=parts)
    return build


def test_ctrl_r_opens_the_run_dialog_on_the_windows_database(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot) -> None:
    fill(ui_db, 3)
    window = window_with_loop(ui_db)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(loop.run_dialog, RunDialog) and loop.run_dialog.isVisible()
    assert loop.run_dialog.database == str(ui_db)
    toolbar_texts = [a.iconText() for a in window.toolbar.actions()]
    assert "Run" in toolbar_texts and "Export" in toolbar_texts
    runs_menu = [m for m in window.menuBar().actions() if m.text() == "&Runs"]
    assert runs_menu and [a.objectName() for a in runs_menu[0].menu().actions()
                          if a.objectName()] == ["action_run_scenarios", "action_compare_runs",
                                                 "action_replay", "action_prompt_versions",
                                                 "action_export_training",
                                                 "action_finetune"]


def test_runs_menu_opens_fine_tuning_on_the_windows_database(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot) -> None:
    from policy_desktop.ui.finetune_dialog import FinetuneDialog

    fill(ui_db, 3)
    window = window_with_loop(ui_db)
    [action] = [a for a in window.findChildren(QAction) if a.objectName() == "action_finetune"]
    action.trigger()
    dialog = loop.finetune_dialog
    assert isinstance(dialog, FinetuneDialog) and dialog.isVisible()
    assert dialog._database == str(ui_db)
    action.trigger()  # a second click shows the same dialog, not another one
    assert loop.finetune_dialog is dialog
    dialog.close()


def test_runs_menu_opens_the_replay_on_the_windows_database_and_filter(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot) -> None:
    from policy_desktop.ui.replay_dialog import ReplayDialog

    fill(ui_db, 3)
    window = window_with_loop(ui_db)
    [action] = [a for a in window.findChildren(QAction) if a.objectName() == "action_replay"]
    assert action.text() == "Re&play decisions…"
    action.trigger()
    dialog = loop.replay_dialog
    assert isinstance(dialog, ReplayDialog) and dialog.isVisible()
    assert dialog.database == str(ui_db)
    action.trigger()  # a second click raises the same dialog
    assert loop.replay_dialog is dialog
    dialog.close()


def test_ctrl_e_opens_the_export_wizard_with_the_correction_count(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot) -> None:
    ids = fill(ui_db, 4)
    with PolicyDecisionLog(ui_db) as log:
        log.mark_reviewed(ids[0], review_decision="deny", reviewer="tess")
    window = window_with_loop(ui_db)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: loop.export_wizard is not None and loop.export_wizard.isVisible())
    assert loop.export_wizard.readiness_page.corrections == 1
    assert "49 more needed" in loop.export_wizard.readiness_page.message.text()
    loop.export_wizard.close()


def test_review_failures_shows_what_the_run_counted_as_fail(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot) -> None:
    """Issue 12 item 8: a right decision with too little reasoning coverage failed the run
    too; the filter must list it (with the run's own pass threshold, here 0.6)."""
    with PolicyDecisionLog(ui_db) as log:
        run_id = log.start_run(model_name="m", model_version="q", prompt_version="p",
                               settings={"pass_coverage": 0.6})
        log.log_decisions([make_decision(1, run_id=run_id, decision="deny",
                                         decision_correct=False),
                           make_decision(2, run_id=run_id),  # coverage 0.75: a pass
                           make_decision(4, run_id=run_id, reasoning_coverage=0.55),
                           make_decision(5, run_id=run_id, reasoning_coverage=None),
                           make_decision(3, decision="deny", decision_correct=False)])
        log.finish_run(run_id, "completed", {})
    window = window_with_loop(ui_db)
    loop.review_failures(run_id)
    wait_idle(qtbot, window)
    assert window.filter_bar.filter.view == "failures"
    assert window.filter_bar.filter.run_id == run_id
    assert window.filter_bar.filter.pass_coverage == 0.6
    assert window.model.rowCount() == 3  # as the run table's three FAIL lines
    assert window.filter_bar.view_buttons["failures"].isVisible()
    assert window.filter_bar.view_buttons["failures"].text() == "Run failures (3)"
    qtbot.mouseClick(window.filter_bar.view_buttons["all"], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert not window.filter_bar.view_buttons["failures"].isVisible()


def test_welcome_run_quick_suite_starts_a_run_that_can_be_cancelled(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    window = window_with_loop(ui_db)  # empty database: the welcome panel
    started: list[str] = []
    loop.controller.start = lambda job: started.append(job.database)  # type: ignore[method-assign]
    window.run_quick_suite_requested.emit()
    assert started == [str(ui_db)]
    assert loop.run_dialog is not None and loop.run_dialog.isVisible()


def test_closing_during_a_run_asks_and_waits_for_the_cancel(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    window = window_with_loop(ui_db)
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda parent, title, text, *a: asked.append(title) or QMessageBox.StandardButton.Yes))
    loop.controller._running = True  # as if a run were going on
    cancelled: list[bool] = []
    loop.controller.cancel = lambda: cancelled.append(True)  # type: ignore[method-assign]
    window.close()
    assert asked == ["A run is in progress"] and cancelled == [True]
    assert window.isVisible()
    loop.controller._running = False
    loop.controller.worker.cancelled.emit(None)
    qtbot.waitUntil(lambda: not window.isVisible())


def test_the_export_wizard_embeds_through_the_apps_shared_service(
        make_window, settings: Settings, ui_db: str, qtbot: QtBot) -> None:
    """The composition root's one embedding service reaches the export worker."""
    import numpy as np

    def shared(texts: object) -> np.ndarray:  # stands in for ProcessEmbedder.encode
        raise AssertionError("not called by opening the wizard")

    controller = RunController()
    loop = ReviewLoop(controller, settings, embed=shared)
    try:
        fill(ui_db, 3)
        parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                            is_text_input=is_text_input, loop=loop,
                            shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS))
        window = make_window(ui_db, parts=parts)
        qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: loop.export_wizard is not None)
        assert loop.export_wizard.controller.worker._embed is shared
        loop.export_wizard.close()
    finally:
        assert controller.shutdown()


def test_the_fine_tuning_dialogs_suite_button_runs_the_full_suite_with_the_tuned_model(
        window_with_loop, loop: ReviewLoop, ui_db: str, qtbot: QtBot, tmp_path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_desktop.engine.bundled_model import bundled_model_path
    from policy_desktop.finetune.base_model import file_sha256
    from policy_desktop.finetune.registry import ModelRegistry

    base = bundled_model_path()
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"adapter weights")
    ModelRegistry().register("policy-tuned", adapter, {
        "base_model": {"path": str(base), "sha256": file_sha256(base), "name": "Gemma 3 270m",
                       "quantization": "Q4_K_M"},
        "prompt_version": "v3_tuned_short", "adapter": {"rank": 8, "alpha": 16.0}})
    started: list[tuple[str | None, str, int]] = []
    monkeypatch.setattr(RunDialog, "start_run", lambda self: started.append(
        (self.tuned_model, self._prompt.currentText(), len(self.build_job().scenarios))))
    fill(ui_db, 3)
    window = window_with_loop(ui_db)
    loop.open_finetune()
    assert loop.finetune_dialog is not None
    loop.finetune_dialog.suiteRequested.emit("policy-tuned")  # its button, after training
    assert isinstance(loop.run_dialog, RunDialog) and loop.run_dialog.isVisible()
    [(model, prompt, scenarios)] = started
    assert (model, prompt) == ("policy-tuned", "v3_tuned_short")
    assert scenarios == len(loop.run_dialog.build_job().scenarios) and scenarios >= 8
    loop.finetune_dialog.close()
    loop.run_dialog.close()
    wait_idle(qtbot, window)
