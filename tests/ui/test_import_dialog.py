"""Import from the welcome panel: a cancellable background import with progress, then a
dialog listing the bad lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from pytestqt.qtbot import QtBot
from window_helpers import HOSTILE, WAIT_MS, make_decision, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.jsonl import ImportResult, LineProblem
from policy_desktop.ui import import_dialog
from policy_desktop.ui.import_dialog import ImportProgressDialog, ImportResultDialog, summary_text
from policy_desktop.ui.main_window import TABLE_PAGE


def jsonl_file(path: Path) -> Path:
    good = [make_decision(n).to_dict() for n in range(2)]
    good[1]["reasoning"] = HOSTILE
    lines = [json.dumps(good[0]), "{not json", json.dumps({"decision": "allow"}),
             json.dumps(good[1]), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_import_from_the_welcome_panel_lists_each_bad_line(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = jsonl_file(tmp_path / "run.jsonl")
    monkeypatch.setattr(import_dialog, "open_file_names", lambda *a, **k: [str(source)])
    window = make_window(ui_db)
    qtbot.mouseClick(window.welcome.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(ImportResultDialog) is not None, timeout=WAIT_MS)
    dialog = window.findChild(ImportResultDialog)
    assert dialog is not None
    assert dialog.summary.text().startswith("Imported 2 decisions from run.jsonl.")
    assert "2 lines could not be read" in dialog.summary.text()
    lines = dialog.problem_lines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{source}:2: not JSON")
    assert lines[1].startswith(f"{source}:3: missing required field")
    wait_idle(qtbot, window)
    assert window.current_page() == TABLE_PAGE
    assert window.model.rowCount() == 2
    dialog.reject()


def test_an_unreadable_file_is_reported(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path) -> None:
    window = make_window(ui_db)
    missing = tmp_path / "gone.jsonl"
    window.import_files([missing])
    wait_idle(qtbot, window)
    box = window.findChild(QMessageBox)
    assert box is not None and "gone.jsonl" in box.text()


def test_dialog_without_problems(qtbot: QtBot) -> None:
    dialog = ImportResultDialog(ImportResult(imported=1, duplicates=3), [Path("a.jsonl")])
    qtbot.addWidget(dialog)
    assert dialog.problem_lines() == []
    assert dialog.problems.isHidden()
    assert dialog.summary.textFormat() == Qt.TextFormat.PlainText
    result = ImportResult(invalid=1, conflicts=1, problems=[LineProblem("x", 4, "bad")])
    text = summary_text(result, [Path("a"), Path("b")])
    assert text.startswith("Imported 0 decisions from 2 files.")
    assert "conflicted" in text


def test_merged_reviews_and_unknown_fields_are_reported(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path) -> None:
    stored_decision = make_decision(0)
    with PolicyDecisionLog(ui_db) as log:
        decision_id = log.log_decision(stored_decision)
    reviewed = {**stored_decision.to_dict(), "decision_id": decision_id, "reviewed": True,
                "review_decision": "deny", "review_timestamp": "2026-12-01T10:00:00+00:00",
                "reviewer": "ann"}
    extra = {**make_decision(1).to_dict(), "shoe_size": 44}
    source = tmp_path / "more.jsonl"
    source.write_text(json.dumps(reviewed) + "\n" + json.dumps(extra) + "\n", encoding="utf-8")
    window = make_window(ui_db)
    wait_idle(qtbot, window)
    window.import_files([source])
    qtbot.waitUntil(lambda: window.findChild(ImportResultDialog) is not None, timeout=WAIT_MS)
    dialog = window.findChild(ImportResultDialog)
    assert dialog is not None
    assert "1 review of stored decisions added to their history." in dialog.summary.text()
    assert dialog.warnings.isVisibleTo(dialog)
    assert "shoe_size" in dialog.warnings.text()
    assert dialog.warnings.textFormat() == Qt.TextFormat.PlainText
    dialog.reject()
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        assert [event.reviewer for event in log.get_review_history(decision_id)] == ["ann"]


def big_jsonl_file(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            out.write(json.dumps(make_decision(number).to_dict()) + "\n")
    return path


def stored(ui_db: str) -> int:
    with PolicyDecisionLog(ui_db) as log:
        return len(log.get_all_decisions())


def test_a_long_import_shows_progress_and_cancel_keeps_what_was_stored(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path) -> None:
    """The import runs as its own job: the window stays live, Cancel stops it, and what
    was stored stays (a second import skips it as already stored)."""
    total = 30_000
    source = big_jsonl_file(tmp_path / "big.jsonl", total)
    window = make_window(ui_db)
    window.import_files([source])
    assert window.importing and window.executor.idle  # not a job on the database thread
    progress = window.findChild(ImportProgressDialog)
    assert progress is not None
    qtbot.waitUntil(lambda: progress.value() > 0, timeout=WAIT_MS)
    cancel = progress.findChild(QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(ImportResultDialog) is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    dialog = window.findChild(ImportResultDialog)
    assert dialog is not None and dialog.windowTitle() == "Import cancelled"
    kept = stored(ui_db)
    assert 0 < kept < total
    assert dialog.summary.text().startswith(f"Import cancelled: {kept:,} decision")
    assert window.actions_by_id["import_log"].isEnabled()
    dialog.reject()

    window.import_files([source])  # the rest, to the end
    qtbot.waitUntil(lambda: not window.importing, timeout=60_000)
    wait_idle(qtbot, window)
    assert stored(ui_db) == total
    [again] = [d for d in window.findChildren(ImportResultDialog) if d.isVisible()]
    assert f"{kept:,} lines already stored" in again.summary.text()
    again.reject()


def test_escape_on_the_progress_cancels_the_import(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path) -> None:
    source = big_jsonl_file(tmp_path / "big.jsonl", 30_000)
    window = make_window(ui_db)
    window.import_files([source])
    progress = window.findChild(ImportProgressDialog)
    assert progress is not None
    qtbot.waitUntil(lambda: progress.value() > 0, timeout=WAIT_MS)
    qtbot.keyClick(progress, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.findChild(ImportResultDialog) is not None, timeout=WAIT_MS)
    dialog = window.findChild(ImportResultDialog)
    assert dialog is not None and dialog.windowTitle() == "Import cancelled"
    assert 0 < stored(ui_db) < 30_000
    dialog.reject()


def test_closing_the_window_stops_an_import(
        qtbot: QtBot, make_window: Any, ui_db: str, tmp_path: Path) -> None:
    source = big_jsonl_file(tmp_path / "big.jsonl", 30_000)
    window = make_window(ui_db)
    window.import_files([source])
    progress = window.findChild(ImportProgressDialog)
    assert progress is not None
    qtbot.waitUntil(lambda: progress.value() > 0, timeout=WAIT_MS)
    window.close()
    assert not window.importing  # the import thread was joined
    assert 0 < stored(ui_db) < 30_000
