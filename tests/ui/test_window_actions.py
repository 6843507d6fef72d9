"""The window's menus are built from window_actions' tables: every ReviewLoop action is
an entry that calls its method, and the Review menu holds the team-queue entries."""

from __future__ import annotations

from typing import Any

from conftest import real_parts
from pytestqt.qtbot import QtBot
from window_helpers import fill

from policy_desktop.ui.window_actions import LOOP_ACTIONS, MENUS


class RecordingLoop:
    """Stands in for ReviewLoop (its dialogs are tested in test_loop_actions and their
    own tests): records which of its methods the window's actions call."""

    def __init__(self) -> None:
        self.called: list[str] = []
        for method in LOOP_ACTIONS.values():
            setattr(self, method, lambda m=method: self.called.append(m))

    def attach(self, window: Any) -> None:
        self.window = window

    def may_close(self) -> bool:
        return True


def test_every_loop_action_is_in_a_menu_and_calls_its_method(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 2)
    parts = real_parts()
    loop = RecordingLoop()
    parts.loop = loop
    window = make_window(ui_db, parts=parts)
    in_menus = {action_id for ids in MENUS.values() for action_id in ids}
    for action_id, method in LOOP_ACTIONS.items():
        assert action_id in in_menus, f"{action_id} is in no menu"
        window.actions_by_id[action_id].trigger()
        assert loop.called[-1] == method
    assert len(loop.called) == len(LOOP_ACTIONS)
    review = [a.objectName() for a in window.menuBar().actions()[2].menu().actions()]
    assert "action_team_queue" in review and "action_assign_filter" in review
