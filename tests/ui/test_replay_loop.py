"""Replay reached from the window: the export wizard's last page and the loop's actions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from thread_signals import GuiRelay

from policy_desktop.export.token_budget import approximate_counter
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.replay import ReplayStore
from policy_desktop.ui.export_wizard import ExportWizard
from policy_desktop.ui.loop_actions import ReviewLoop
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.review_panel import ReviewPanel
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, is_text_input
from policy_desktop.vocabulary import DECISIONS
from tests.replay_helpers import ScriptedModel, logged_set


def scripted(settings, endpoint, on_status) -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def loop(settings: Settings) -> Iterator[ReviewLoop]:
    controller = RunController()
    review_loop = ReviewLoop(controller, settings)
    review_loop.replay_model_factory = scripted
    yield review_loop
    assert controller.shutdown()


@pytest.fixture
def window_with_loop(make_window, loop: ReviewLoop):
    def build(database: Path) -> MainWindow:
        parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                            is_text_input=is_text_input, loop=loop,
                            shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS))
        return make_window(database, parts=parts)
    return build


def test_replay_with_a_new_prompt_replays_the_reviewed_and_shows_them_in_the_table(
        window_with_loop, loop: ReviewLoop, db_path: Path, qtbot: QtBot) -> None:
    with PolicyDecisionLog(db_path) as log:
        ids = logged_set(log)
    window = window_with_loop(db_path)
    loop.replay_with("v3_tuned_short")
    dialog = loop.replay_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.view.currentData() == "reviewed" and dialog.newest.value() == 500
    assert dialog.prompt.currentText() == "v3_tuned_short"
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    run_id = dialog.report.run.run_id
    with PolicyDecisionLog(db_path, create=False) as log:
        replayed = {o.decision_id for o, _ in ReplayStore(log).pairs(run_id)}
        assert log.get_run(run_id).prompt_version == "v3_tuned_short"
    reviewed = {"ann", "bob", "cat", "dan", "eve", "hal"}
    assert replayed == {ids[actor] for actor in reviewed}

    labels = dialog.report.labels()
    row, column = labels.index("deny"), labels.index("allow")
    qtbot.mouseClick(dialog.matrix.viewport(), Qt.MouseButton.LeftButton,
                     pos=dialog.matrix.visualItemRect(dialog.matrix.item(row, column)).center())
    cell = [p for p in dialog._pairs]
    assert cell and all((p.original.decision, p.replay.decision) == ("deny", "allow")
                        for p in cell)
    qtbot.mouseClick(dialog.show_in_table, Qt.MouseButton.LeftButton)
    shown = window.filter_bar.filter
    assert shown.view == "all" and shown.run_id is None
    expected_ids = {p.original.decision_id for p in cell} | {p.replay.decision_id for p in cell}
    assert set(shown.decision_ids or ()) == expected_ids  # exactly that cell's decisions
    qtbot.waitUntil(lambda: window.table.model().rowCount() == len(expected_ids))
    assert "replayed decision(s) of" in window.filter_bar.clear_button.text()

    ended = GuiRelay(dialog.destroyed)
    dialog.close()
    qtbot.waitUntil(lambda: bool(ended.calls))  # its own replay thread ended with it


def _corrections(path: Path, count: int) -> None:
    with PolicyDecisionLog(path) as log:
        for index in range(count + 2):
            decision_id = log.log_decision(PolicyDecision(
                situation={"actor": f"u{index}", "role": "member", "action": "write",
                           "target": f"repo/f{index}.py"},
                model_name="Gemma 3 270m", model_version="Q4_K_M",
                prompt_version="v2_fewshot_8examples", decision="allow",
                reasoning=f"Members may write ({index}).", expected_decision="deny",
                decision_correct=False))
            if index < count:
                log.mark_reviewed(decision_id, review_decision=DECISIONS[1 + index % 3],
                                  review_reasoning=f"Corrected reasoning {index} here.",
                                  reviewer="dana")


def test_wizard_last_page_offers_replay_with_the_new_prompt(
        tmp_path: Path, qtbot: QtBot, settings: Settings) -> None:
    import numpy as np

    def embed(texts):
        rng = np.random.default_rng(len(texts))
        rows = rng.standard_normal((len(texts), 8)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    database = tmp_path / "d.db"
    _corrections(database, 50)
    wizard = ExportWizard(str(database), 50, settings, embed=embed,
                          count_tokens=approximate_counter)
    qtbot.addWidget(wizard)
    wizard.show()
    try:
        qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
        wizard.options_page.folder.setText(str(tmp_path / "export"))
        qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: wizard.preview_page.preview is not None, timeout=30_000)
        qtbot.mouseClick(wizard.button(QWizard.WizardButton.CommitButton),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: wizard.result_page.result is not None, timeout=60_000)
        replay = wizard.result_page.replay
        assert replay.text() == "Replay the last 500 reviewed decisions with it"
        assert not replay.isEnabled()  # nothing to replay with before a prompt version exists
        assert wizard.result_page.create_prompt_version("v3_replay_me")
        with qtbot.waitSignal(wizard.replay_requested) as requested:
            qtbot.mouseClick(replay, Qt.MouseButton.LeftButton)
        assert requested.args == ["v3_replay_me"]
        assert not wizard.isVisible()
    finally:
        assert wizard.controller.shutdown()
