"""Compare runs understands replay runs: the newest replay against its originals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from policy_desktop.engine.prompts import PromptCatalog, load_policy
from policy_desktop.engine.replay import Candidate, continue_replay, plan_replay
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.replay import ReplaySelection
from policy_desktop.store.run_comparison import ORIGINALS
from policy_desktop.ui.compare_dialog import CompareDialog
from policy_desktop.ui.tasks import DbExecutor
from tests.replay_helpers import ScriptedModel, logged_set


@pytest.fixture
def executor(db_path: Path, qtbot: QtBot) -> Iterator[DbExecutor]:
    executor = DbExecutor()
    opened: list[object] = []
    executor.open(str(db_path), on_done=opened.append)
    qtbot.waitUntil(lambda: bool(opened))
    yield executor
    executor.shutdown()


def test_newest_replay_is_compared_with_its_originals(db_path: Path, qtbot: QtBot,
                                                      executor: DbExecutor) -> None:
    with PolicyDecisionLog(db_path) as log:
        ids = logged_set(log)
        model = ScriptedModel()
        candidate = Candidate(model, PromptCatalog().get("v3_tuned_short"), load_policy())
        run_id, _ = plan_replay(log, ReplaySelection(DecisionFilter(view="all")), candidate)
        continue_replay(log, run_id, candidate)
    dialog = CompareDialog(executor)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.comparison is not None)
    assert dialog.run_a.currentData() == ORIGINALS
    assert dialog.run_b.currentData() == run_id
    assert "replay of 8 decisions" in dialog.run_b.currentText()
    table = dialog.table
    rows = {table.item(r, 0).text(): table.item(r, table.columnCount() - 1).text()
            for r in range(table.rowCount())}
    assert rows[ids["cat"]] == "▲ fixed" and rows[ids["dan"]] == "▼ regressed"
    assert "accuracy 67% (4/6)" in dialog.totals.text()
    assert "accuracy 50% (3/6)" in dialog.totals.text()
