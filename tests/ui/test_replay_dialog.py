"""Runs → Replay…: driven by clicks and keys; the database is checked after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from thread_signals import GuiRelay

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.replay import ReplayStore
from policy_desktop.ui.replay_dialog import ReplayDialog
from policy_desktop.ui.replay_worker import ReplayController
from tests.replay_helpers import ScriptedModel, logged_set, snapshot

MODELS: list[ScriptedModel] = []


def scripted(settings, endpoint, on_status) -> ScriptedModel:
    on_status("Loading the scripted candidate…")
    model = ScriptedModel(delay=0.15)
    MODELS.append(model)
    return model


@pytest.fixture
def replays() -> Iterator[ReplayController]:
    controller = ReplayController(model_factory=scripted)
    yield controller
    assert controller.shutdown(), "the replay thread did not stop"


@pytest.fixture
def logged(db_path: Path) -> dict[str, str]:
    with PolicyDecisionLog(db_path) as log:
        return logged_set(log)


def click(qtbot: QtBot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def cell_center(table, row: int, column: int):
    return table.visualItemRect(table.item(row, column)).center()


def test_replay_cancel_continue_and_flip_matrix_click_through(
        qtbot: QtBot, db_path: Path, logged: dict[str, str], replays: ReplayController,
        tmp_path: Path) -> None:
    before = snapshot(db_path)
    dialog = ReplayDialog(replays, str(db_path), table_filter=DecisionFilter(view="all"),
                          candidate_prompt="v3_tuned_short", newest=0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.choices is not None)
    assert dialog.model_filter.findData("gemma-original") > 0  # the table's facets

    progress = GuiRelay(replays.worker.progress)
    cancelled = GuiRelay(replays.worker.cancelled)
    finished = GuiRelay(replays.worker.finished)
    click(qtbot, dialog.start_button)
    qtbot.waitUntil(lambda: len(progress.calls) >= 2, timeout=10_000)
    click(qtbot, dialog.cancel_button)
    qtbot.waitUntil(lambda: bool(cancelled.calls), timeout=10_000)
    run_id = dialog.run_id
    assert run_id is not None
    with PolicyDecisionLog(db_path, create=False) as log:
        run = log.get_run(run_id)
        assert run is not None and run.status == "cancelled"
        answered = len(log.run_decisions(run_id))
    assert 2 <= answered < 8
    assert "Continue" in dialog.status.text()

    qtbot.waitUntil(dialog.continue_button.isEnabled, timeout=10_000)
    click(qtbot, dialog.continue_button)
    qtbot.waitUntil(lambda: bool(finished.calls), timeout=20_000)
    assert len(MODELS[-1].calls) == 8 - answered  # only the rest was asked

    with PolicyDecisionLog(db_path, create=False) as log:
        store = ReplayStore(log)
        assert [r.run_id for r in store.replay_runs()] == [run_id]
        assert store.pending(run_id) == []
        originals = [o.decision_id for o, _ in store.pairs(run_id)]
        assert sorted(originals) == sorted(logged.values())
        assert len(log.run_decisions(run_id)) == 8
        assert log.get_run(run_id).status == "completed"
    assert snapshot(db_path) == before

    report = dialog.report
    assert report is not None and report.replayed == 8
    assert "6 flipped, 3 dangerous" in dialog.summary.text()
    assert "McNemar exact p = 1" in dialog.summary.text()
    assert dialog.dangerous.rowCount() == 3
    labels = report.labels()
    deny, allow = labels.index("deny"), labels.index("allow")
    assert dialog.matrix.item(deny, allow).text() == "3"

    chosen = GuiRelay(dialog.cell_chosen)
    qtbot.mouseClick(dialog.matrix.viewport(), Qt.MouseButton.LeftButton,
                     pos=cell_center(dialog.matrix, deny, allow))
    assert dialog.cell_table.rowCount() == 3
    assert dialog.cell_label.text() == "deny → allow: 3 decision(s)"
    (_, original, candidate, original_ids, replay_ids), = chosen.calls
    assert (original, candidate) == ("deny", "allow")
    assert set(original_ids) == {logged["bob"], logged["cat"], logged["fay"]}
    assert len(replay_ids) == 3

    shown = GuiRelay(dialog.show_in_table_requested)
    dialog.show_in_table.setFocus()
    qtbot.keyClick(dialog.show_in_table, Qt.Key.Key_Space)
    assert shown.calls and set(shown.calls[0][1]) == set(original_ids)

    dialog.breakdown_field.setCurrentText("role")
    values = [dialog.breakdown.item(r, 0).text() for r in range(dialog.breakdown.rowCount())]
    assert values == ["member", "guest", "maintainer", "admin"]
    dialog.grab().save(str(tmp_path / "replay.png"))


def test_reviewed_newest_selection_and_earlier_report(
        qtbot: QtBot, db_path: Path, logged: dict[str, str], replays: ReplayController) -> None:
    dialog = ReplayDialog(replays, str(db_path), newest=3)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.choices is not None)
    assert dialog.view.currentData() == "reviewed"
    finished = GuiRelay(replays.worker.finished)
    dialog.start_button.setFocus()
    qtbot.keyClick(dialog.start_button, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(finished.calls), timeout=20_000)
    with PolicyDecisionLog(db_path, create=False) as log:
        [run] = ReplayStore(log).replay_runs()
        chosen = {o.decision_id for o, _ in ReplayStore(log).pairs(run.run_id)}
    assert chosen == {logged["hal"], logged["eve"], logged["dan"]}

    qtbot.waitUntil(lambda: dialog.earlier.count() == 2)
    dialog.report = None
    loaded = GuiRelay(replays.worker.report_loaded)
    dialog.earlier.setCurrentIndex(1)
    dialog.earlier.activated.emit(1)
    qtbot.waitUntil(lambda: bool(loaded.calls))
    assert dialog.report is not None and dialog.report.run.run_id == run.run_id


def test_time_range_and_filters_make_the_selection(
        qtbot: QtBot, db_path: Path, logged: dict[str, str], replays: ReplayController) -> None:
    from PySide6.QtCore import QDateTime, QTimeZone

    from policy_desktop.store.replay import ReplayStore

    dialog = ReplayDialog(replays, str(db_path), newest=0,
                          table_filter=DecisionFilter(view="all", model_name="gemma-original"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.choices is not None)
    assert dialog.model_filter.currentData() == "gemma-original"  # the table's filter kept
    qtbot.mouseClick(dialog.since_on, Qt.MouseButton.LeftButton)
    dialog.until_on.setFocus()
    qtbot.keyClick(dialog.until_on, Qt.Key.Key_Space)
    utc = QTimeZone.utc()
    dialog.since.setDateTime(QDateTime.fromString("2026-03-01T10:02:00Z", Qt.DateFormat.ISODate)
                             .toTimeZone(utc))
    dialog.until.setDateTime(QDateTime.fromString("2026-03-01T10:04:00Z", Qt.DateFormat.ISODate)
                             .toTimeZone(utc))
    dialog.decision.setCurrentIndex(dialog.decision.findData("allow"))
    assert dialog.since_on.isChecked() and dialog.until_on.isChecked()
    selection = dialog.selection()
    with PolicyDecisionLog(db_path, create=False) as log:
        chosen = ReplayStore(log).select_originals(selection)
    assert chosen == [logged["dan"]]  # 10:02-10:04 are cat (deny), dan (allow), eve (MFA)
