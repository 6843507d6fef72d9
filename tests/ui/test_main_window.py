"""The main window driven as a reviewer would: keys and clicks, then the database is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot
from window_helpers import HOSTILE, WAIT_MS, fill, make_decision, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.masking import mask_passwords
from policy_desktop.ui import main_window as main_window_module
from policy_desktop.ui.decisions_model import Col
from policy_desktop.ui.main_window import EMPTY_PAGE, TABLE_PAGE, WELCOME_PAGE, MainWindow
from policy_desktop.ui.settings import Settings


def activate(qtbot: QtBot, window: MainWindow) -> None:
    """Make the window active and put the focus in the table, as after a click."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()


def key(qtbot: QtBot, window: MainWindow, name: Qt.Key | str,
        modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Press a key where the focus is, then wait for the database work it caused."""
    target = window.focusWidget() or window.table
    qtbot.keyClick(target, name, modifier)
    wait_idle(qtbot, window)


def stored(path: str, decision_id: str) -> Any:
    with PolicyDecisionLog(path) as log:
        return log.get_decision(decision_id)


def history(path: str, decision_id: str) -> list[str]:
    with PolicyDecisionLog(path) as log:
        return [event.action for event in log.get_review_history(decision_id)]


def shown_id(window: MainWindow) -> str | None:
    return window.shown_decision.decision_id if window.shown_decision else None


def test_title_table_and_panel_show_the_database(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = fill(ui_db, 5)
    window = make_window(ui_db)
    assert mask_passwords(ui_db) in window.windowTitle()
    assert window.current_page() == TABLE_PAGE
    assert window.model.rowCount() == 5
    assert window.selected_decision_id() == ids[-1]  # newest first, first row selected
    assert shown_id(window) == ids[-1]
    assert window.filter_bar.view_buttons["unreviewed"].text() == "Unreviewed (5)"
    assert window.progress_label.text() == "Reviewed 0 of 5 (0%)"


def test_keyboard_review_flow_writes_the_database(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 6)))  # as the table shows them: newest first
    window = make_window(ui_db)
    activate(qtbot, window)

    key(qtbot, window, Qt.Key.Key_A)  # accept the first
    first = stored(ui_db, ids[0])
    assert first.reviewed and first.review_action == "accept" and first.reviewer == "tess"
    qtbot.waitUntil(lambda: window.model.row_of(ids[0]) == -1, timeout=WAIT_MS)
    assert window.selected_decision_id() == ids[1]  # the next row, now at the top
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)

    key(qtbot, window, Qt.Key.Key_2)  # choose deny …
    key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # … save:
    assert "still argues" in window.panel.form.status.text()  # the reasoning says allow
    assert not stored(ui_db, ids[1]).reviewed
    key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # keep it
    second = stored(ui_db, ids[1])
    assert second.review_decision == "deny" and second.review_action == "correct_decision"
    assert second.decision == "allow"  # the model's output is never overwritten
    qtbot.waitUntil(lambda: shown_id(window) == ids[2], timeout=WAIT_MS)

    key(qtbot, window, Qt.Key.Key_S)  # skip: nothing written
    assert not stored(ui_db, ids[2]).reviewed
    assert window.selected_decision_id() == ids[3]

    key(qtbot, window, Qt.Key.Key_K)  # back up …
    assert window.selected_decision_id() == ids[2]
    key(qtbot, window, Qt.Key.Key_J)  # … and down again
    key(qtbot, window, Qt.Key.Key_Down)
    assert window.selected_decision_id() == ids[4]
    key(qtbot, window, Qt.Key.Key_Up)
    assert window.selected_decision_id() == ids[3]

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the deny
    assert not stored(ui_db, ids[1]).reviewed
    assert history(ui_db, ids[1]) == ["correct_decision", "undo"]
    qtbot.waitUntil(lambda: window.selected_decision_id() == ids[1], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    assert window.session.count == 1
    assert window.filter_bar.counts["unreviewed"] == 5
    assert "1 review this session" in window.session_label.text()


def test_commit_with_the_numeric_enter_key_and_the_toolbar(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 3)))
    window = make_window(ui_db)
    activate(qtbot, window)
    key(qtbot, window, Qt.Key.Key_4)
    key(qtbot, window, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, window, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)  # keep reasoning
    assert stored(ui_db, ids[0]).review_decision == "require_mfa"
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    window.actions_by_id["accept"].trigger()
    wait_idle(qtbot, window)
    assert stored(ui_db, ids[1]).review_action == "accept"


def test_single_keys_type_into_text_fields(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 3)))
    window = make_window(ui_db)
    activate(qtbot, window)
    qtbot.mouseClick(window.filter_bar.search, Qt.MouseButton.LeftButton)
    assert window.focusWidget() is window.filter_bar.search
    for letter in (Qt.Key.Key_A, Qt.Key.Key_J, Qt.Key.Key_S, Qt.Key.Key_2):
        key(qtbot, window, letter)
    assert window.filter_bar.search.text() == "ajs2"
    assert window.selected_decision_id() == ids[0]
    with PolicyDecisionLog(ui_db) as log:
        assert log.get_statistics()["reviewed"] == 0

    editor = window.panel.findChild(QPlainTextEdit, "reasoningEditor")
    assert editor is not None
    window.actions_by_id["focus_reasoning"].trigger()  # R
    assert window.focusWidget() is editor
    before = editor.toPlainText()
    key(qtbot, window, Qt.Key.Key_1)
    key(qtbot, window, Qt.Key.Key_A)
    assert editor.toPlainText() == before + "1a"
    assert window.panel.form.chosen_decision() == "allow"  # "1" did not choose allow again
    with PolicyDecisionLog(ui_db) as log:
        assert log.get_statistics()["reviewed"] == 0
    key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl still works
    saved = stored(ui_db, ids[0])
    assert saved.review_action == "correct_reasoning"
    assert saved.review_reasoning == (before + "1a").strip()


def test_reviewer_is_asked_for_at_the_first_review(
        qtbot: QtBot, make_window: Any, settings: Settings, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = list(reversed(fill(ui_db, 2)))
    settings.reviewer = ""
    asked: list[str] = []

    def get_text(*args: Any, **kwargs: Any) -> tuple[str, bool]:
        asked.append(args[2])
        return "  Quinn ", True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    window = make_window(ui_db)
    activate(qtbot, window)
    key(qtbot, window, Qt.Key.Key_A)
    assert stored(ui_db, ids[0]).reviewer == "Quinn"
    assert Settings().reviewer == "Quinn"
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    key(qtbot, window, Qt.Key.Key_A)
    assert len(asked) == 1  # remembered


def test_hostile_content_appears_literally(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    with PolicyDecisionLog(ui_db) as log:
        log.log_decision(make_decision(1, situation={"actor": HOSTILE, "action": "read",
                                                     "target": "<b>bold</b>"},
                                       reasoning=HOSTILE, team_context="<b>bold</b>"))
    window = make_window(ui_db)
    assert window.model.data(window.model.index(0, Col.ACTOR)) == HOSTILE
    assert window.model.data(window.model.index(0, Col.TARGET)) == "<b>bold</b>"
    qtbot.waitUntil(lambda: window.shown_decision is not None, timeout=WAIT_MS)
    showing = [label for label in window.findChildren(QLabel)
               if HOSTILE in label.text() or "<b>bold</b>" in label.text()]
    assert showing, "the hostile text should be on screen"
    for label in showing:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
    editors = [e for e in window.findChildren(QPlainTextEdit) if HOSTILE in e.toPlainText()]
    assert editors  # the reasoning editor holds it as plain text


def test_welcome_panel_on_an_empty_database(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    window = make_window(ui_db)
    assert window.current_page() == WELCOME_PAGE
    assert window.welcome.title.text() == "No decisions yet"
    assert mask_passwords(ui_db) in window.welcome.database.text()
    assert window.welcome.run_button.isVisible() and window.welcome.import_button.isVisible()
    with qtbot.waitSignal(window.run_quick_suite_requested, timeout=WAIT_MS):
        qtbot.mouseClick(window.welcome.run_button, Qt.MouseButton.LeftButton)
    box = window.findChild(QMessageBox)
    assert box is not None
    assert "policy-desktop run" in box.text()
    assert mask_passwords(ui_db) in box.text()
    assert box.textFormat() == Qt.TextFormat.PlainText


def test_empty_view_says_so(qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 2)
    window = make_window(ui_db)
    qtbot.mouseClick(window.filter_bar.view_buttons["corrections"], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.current_page() == EMPTY_PAGE
    assert window.empty_view.title.text() == "No corrections yet"


@pytest.mark.sqlite_file  # a broken file, then a file from the Open dialog
def test_an_unopenable_database_names_the_file_and_the_app_stays_usable(
        qtbot: QtBot, make_window: Any, tmp_path: Path, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "<b>broken.db"  # a file name is shown as typed, never as markup
    bad.write_bytes(b"this is not sqlite" * 10)
    window = make_window(bad)
    box = window.findChild(QMessageBox)
    assert box is not None and box.isVisible()
    assert str(bad) in box.text()
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert window.database is None
    assert window.current_page() == WELCOME_PAGE
    assert window.welcome.title.text() == "No database open"
    assert window.welcome.open_button.isVisible()
    box.accept()

    fill(ui_db, 3)
    monkeypatch.setattr(main_window_module, "open_file_name",
                        lambda *args, **kwargs: str(ui_db))
    qtbot.mouseClick(window.welcome.open_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.database is not None
    assert window.model.rowCount() == 3
    assert window.current_page() == TABLE_PAGE
    assert window.settings.database == str(ui_db)


@pytest.mark.sqlite_file  # File > New makes a SQLite file
def test_new_database_from_the_file_menu(
        qtbot: QtBot, make_window: Any, tmp_path: Path, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fill(ui_db, 2)
    window = make_window(ui_db)
    fresh = tmp_path / "fresh.db"
    monkeypatch.setattr(main_window_module, "save_file_name", lambda *a, **k: str(fresh))
    window.actions_by_id["new_database"].trigger()
    wait_idle(qtbot, window)
    assert fresh.exists()
    assert str(fresh) in window.windowTitle()
    assert window.current_page() == WELCOME_PAGE


def test_window_state_is_remembered(
        qtbot: QtBot, make_window: Any, settings: Settings, ui_db: str) -> None:
    fill(ui_db, 2)
    window = make_window(ui_db)
    window.splitter.setSizes([900, 400])
    window.table.horizontalHeader().resizeSection(Col.TARGET, 333)
    splitter_state = window.splitter.saveState()
    window.close()
    assert Settings().window_state("splitter") == splitter_state
    assert Settings().window_state("geometry") is not None
    again = make_window(ui_db)
    assert again.table.horizontalHeader().sectionSize(Col.TARGET) == 333
    # The offscreen screen (800x800) shrinks the restored window, so the splitter
    # shares differ a little; on the same screen they come back as they were.
    restored = again.splitter.sizes()
    assert restored[0] > restored[1]  # the table keeps the larger share it was given


def test_statistics_tab_gets_data_from_the_background(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from conftest import real_parts

    fill(ui_db, 4)

    class Stats(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.data: list[object] = []

        def set_data(self, data: object) -> None:
            self.data.append(data)

    parts = real_parts()
    parts.statistics_view = Stats()
    parts.collect_statistics = lambda log: log.get_statistics()["total"]
    window = make_window(ui_db, parts=parts)
    window.actions_by_id["statistics"].trigger()
    qtbot.waitUntil(lambda: parts.statistics_view.data == [4], timeout=WAIT_MS)  # type: ignore[attr-defined]


def test_closing_while_work_is_queued_is_clean(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 50)
    window = make_window(ui_db, page_size=10)
    for _ in range(5):
        window.model.refresh()
        window.reload()
    window.close()
    window.executor.shutdown()
    assert window.executor.idle


def test_read_ahead_details_are_dropped_when_another_process_writes(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 3)))
    window = make_window(ui_db)
    window.filter_bar.set_view("all")
    wait_idle(qtbot, window)
    activate(qtbot, window)
    qtbot.waitUntil(lambda: ids[1] in window.feed.read_ahead, timeout=WAIT_MS)
    with PolicyDecisionLog(ui_db) as other:
        other.mark_reviewed(ids[1], "deny", reviewer="ann")
    qtbot.waitUntil(lambda: window.filter_bar.counts.get("reviewed") == 1, timeout=WAIT_MS)
    key(qtbot, window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    assert window.shown_decision is not None
    assert window.shown_decision.review_decision == "deny"  # fresh, not the early read


def test_review_keys_do_nothing_on_the_statistics_tab(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from conftest import real_parts

    fill(ui_db, 2)

    class Stats(QWidget):
        def set_data(self, data: object) -> None:
            pass

    parts = real_parts()
    parts.statistics_view = Stats()
    parts.collect_statistics = lambda log: None
    window = make_window(ui_db, parts=parts)
    activate(qtbot, window)
    window.show_statistics()
    assert not window.actions_by_id["accept"].isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_A)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        assert log.get_statistics()["reviewed"] == 0
    window.tabs.setCurrentIndex(0)
    assert window.actions_by_id["accept"].isEnabled()
