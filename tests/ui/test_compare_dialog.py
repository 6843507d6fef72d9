"""The compare view shows two runs' differences scenario by scenario."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.compare_dialog import CompareDialog
from policy_desktop.ui.tasks import DbExecutor

EXPECTED = {"E01": "allow", "E02": "deny", "M01": "require_attestation"}


def _run(log: PolicyDecisionLog, prompt: str, answers: dict[str, str]) -> str:
    run_id = log.start_run(model_name="Gemma 3 270m", model_version="Q4_K_M",
                           prompt_version=prompt, scenario_ids=list(answers))
    log.log_decisions(PolicyDecision(
        situation={"actor": "a", "n": sid}, model_name="Gemma 3 270m", model_version="Q4_K_M",
        prompt_version=prompt, decision=decision, expected_decision=EXPECTED[sid],
        decision_correct=decision == EXPECTED[sid], reasoning_coverage=0.5, scenario_id=sid,
        reasoning=f"{prompt} says {decision} for {sid}",
        run_id=run_id) for sid, decision in answers.items())
    log.finish_run(run_id, "completed", {})
    return run_id


@pytest.fixture
def executor(ui_db: str, qtbot: QtBot) -> Iterator[DbExecutor]:
    executor = DbExecutor()
    opened: list[object] = []
    executor.open(str(ui_db), on_done=opened.append)
    qtbot.waitUntil(lambda: bool(opened))
    yield executor
    executor.shutdown()


def test_shows_differences_of_two_runs(ui_db: str, executor: DbExecutor, qtbot: QtBot,
                                       tmp_path: Path) -> None:
    log = PolicyDecisionLog(ui_db)
    old = _run(log, "v2_fewshot_8examples", {"E01": "allow", "E02": "allow", "M01": "deny"})
    new = _run(log, "v3_reviewed", {"E01": "allow", "E02": "deny", "M01": "require_mfa"})
    log.close()
    dialog = CompareDialog(executor)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.comparison is not None)
    dialog.select_runs(old, new)
    qtbot.waitUntil(lambda: dialog.comparison is not None
                    and dialog.comparison.run_a.run_id == old)
    table = dialog.table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}
    assert rows["E02"][2:4] == ["allow", "✗"] and rows["E02"][5:7] == ["deny", "✓"]
    assert rows["E02"][-1] == "▲ fixed"
    assert rows["M01"][-1] == "≠ changed"
    assert rows["E01"][-1] == "= same"
    assert "accuracy 33% (1/3)" in dialog.totals.text()
    assert "accuracy 67% (2/3)" in dialog.totals.text()
    assert "v3_reviewed" in dialog.run_b.currentText()
    e02 = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "E02")
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualItemRect(table.item(e02, 2)).center())
    qtbot.waitUntil(lambda: dialog.reasoning_b.toPlainText() != "")
    assert dialog.reasoning_a.toPlainText() == "v2_fewshot_8examples says allow for E02"
    assert dialog.reasoning_b.toPlainText() == "v3_reviewed says deny for E02"
    dialog.grab().save(str(tmp_path / "compare.png"))


def test_with_fewer_than_two_runs_explains(executor: DbExecutor, qtbot: QtBot) -> None:
    dialog = CompareDialog(executor)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "needs two runs" in dialog.totals.text())
