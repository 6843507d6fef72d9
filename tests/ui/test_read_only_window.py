"""A database this process may not write (a read-only mount, another user's file) is
shown as read-only: title, status bar and form say so, and nothing offers to write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from window_helpers import fill, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store import database as store_database
from policy_desktop.ui.main_window import MainWindow
from policy_desktop.ui.status_bar import READ_ONLY_NOTE

CTRL = Qt.KeyboardModifier.ControlModifier
WRITING = ("accept", "commit", "accept_selected", "undo",
           "import_log", "run_scenarios", "replay", "team_queue", "assign_filter")


@pytest.fixture
def read_only_file(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three logged decisions in a file this process is told it cannot write (tests run
    as root, who may write any file)."""
    fill(db_path, 3)
    monkeypatch.setattr(store_database, "_writable", lambda _path: False)
    return db_path


def review_count(path: Path) -> int:
    with PolicyDecisionLog(path) as log:
        return sum(len(log.get_review_history(d.decision_id))
                   for d in log.get_all_decisions() if d.decision_id)


def test_a_read_only_database_says_so_and_offers_no_writes(
        qtbot: QtBot, make_window: Any, read_only_file: Path) -> None:
    window: MainWindow = make_window(read_only_file)
    assert window.read_only
    assert "(read-only)" in window.windowTitle()
    assert window.status.read_only_label.isVisibleTo(window)
    window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_J)  # the first decision on show
    qtbot.waitUntil(lambda: window.shown_decision is not None)
    actions = window.actions_by_id
    assert [name for name in WRITING if name in actions and actions[name].isEnabled()] == []
    assert actions["skip"].isEnabled() and actions["next"].isEnabled()
    assert actions["choose_deny"].isEnabled()  # fills the form, writes nothing
    panel: Any = window.panel
    assert not panel.form.accept_button.isEnabled()
    assert not panel.form.commit_button.isEnabled()
    assert READ_ONLY_NOTE in panel.form.status.text()

    qtbot.keyClick(window.focusWidget() or window.table, Qt.Key.Key_A)
    qtbot.keyClick(window.focusWidget() or window.table, Qt.Key.Key_2)
    qtbot.keyClick(window.focusWidget() or window.table, Qt.Key.Key_Return, CTRL)
    panel.commit()  # even asked directly, the form submits nothing
    wait_idle(qtbot, window)
    assert review_count(read_only_file) == 0


def test_a_writable_database_is_not_marked(qtbot: QtBot, make_window: Any,
                                           db_path: Path) -> None:
    fill(db_path, 1)
    window: MainWindow = make_window(db_path)
    assert not window.read_only and "(read-only)" not in window.windowTitle()
    assert not window.status.read_only_label.isVisibleTo(window)
    assert window.actions_by_id["import_log"].isEnabled()
