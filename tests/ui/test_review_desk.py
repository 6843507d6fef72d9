"""A reviewer's day at the desk (issue 12): the window driven by keys and clicks, then
the database checked."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFontMetrics, QKeyEvent
from PySide6.QtWidgets import QApplication, QLabel, QPlainTextEdit
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.decisions_model import BLIND_COLUMNS, HIDDEN_TEXT, Col
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.review_panel import ReviewPanel
from policy_desktop.ui.shortcuts import SHORTCUTS, is_text_input
from policy_desktop.vocabulary import DECISIONS

CTRL = Qt.KeyboardModifier.ControlModifier


def activate(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()


def press(qtbot: QtBot, window: MainWindow, key: Qt.Key,
          modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key where the focus is, without waiting for what it causes."""
    qtbot.keyClick(window.focusWidget() or window.table, key, modifier)


def shown_id(window: MainWindow) -> str | None:
    return window.shown_decision.decision_id if window.shown_decision else None


def reviews(path: str) -> list[tuple[str, str, str | None]]:
    """Every review event in the file: (decision id, action, reviewer), oldest first."""
    with PolicyDecisionLog(path) as log:
        events = []
        for decision in log.get_all_decisions():
            assert decision.decision_id is not None
            events += [(decision.decision_id, event.action, event.reviewer)
                       for event in log.get_review_history(decision.decision_id)]
    return sorted(events, key=lambda e: e[0])


def reviewed_ids(path: str) -> set[str]:
    with PolicyDecisionLog(path) as log:
        return {d.decision_id for d in log.get_all_decisions() if d.reviewed and d.decision_id}


def cell(window: MainWindow, row: int, column: Col) -> Any:
    return window.model.index(row, column).data()


# --- 1. blind review hides the answer everywhere ---------------------------------------

def test_blind_review_hides_the_answer_in_the_table_until_chosen(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 4)))
    window = make_window(ui_db)
    activate(qtbot, window)
    press(qtbot, window, Qt.Key.Key_B, CTRL)  # blind review on
    assert window.settings.blind_review
    for row in range(window.model.rowCount()):
        for column in BLIND_COLUMNS:
            index = window.model.index(row, column)
            assert index.data() == HIDDEN_TEXT, (row, column)
            assert index.data(Qt.ItemDataRole.DecorationRole) is None
            assert "allow" not in str(index.data(Qt.ItemDataRole.ToolTipRole)).lower()
        assert cell(window, row, Col.ACTOR).startswith("actor")  # the situation stays
    assert not window.filter_bar.decision_combo.isEnabled()  # filtering by it would tell

    press(qtbot, window, Qt.Key.Key_2)  # the blind choice for the first decision
    wait_idle(qtbot, window)
    assert "Allow" in cell(window, 0, Col.DECISION)  # revealed for this one …
    assert cell(window, 1, Col.DECISION) == HIDDEN_TEXT  # … not for the others
    for _ in range(2):  # save; the reasoning argued for allow: save again to keep it
        qtbot.keyClick(window.table, Qt.Key.Key_Return, CTRL)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        first = log.get_decision(ids[0])
    assert first is not None and first.review_decision == "deny"
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    row = window.model.row_of(ids[1])
    assert cell(window, row, Col.DECISION) == HIDDEN_TEXT

    press(qtbot, window, Qt.Key.Key_B, CTRL)  # off again: everything shows
    assert "Allow" in cell(window, row, Col.DECISION)
    assert window.filter_bar.decision_combo.isEnabled()


def test_blind_review_disables_the_statistics_tab(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from policy_desktop.store.analytics import collect_statistics
    from policy_desktop.ui.statistics_view import StatisticsView

    fill(ui_db, 3)
    view = StatisticsView()
    parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                        is_text_input=is_text_input, statistics_view=view,
                        collect_statistics=collect_statistics)
    window = make_window(ui_db, parts=parts)
    activate(qtbot, window)
    index = window.tabs.indexOf(view)
    press(qtbot, window, Qt.Key.Key_B, CTRL)
    assert not window.tabs.isTabEnabled(index)
    press(qtbot, window, Qt.Key.Key_B, CTRL)
    assert window.tabs.isTabEnabled(index)


# --- 2. a double click records one review ------------------------------------------------

def test_double_clicking_save_or_accept_records_one_review(
        qtbot: QtBot, make_window: Any, ui_db: str, qapp: Any) -> None:
    qapp.setDoubleClickInterval(400)  # a person's double click
    ids = list(reversed(fill(ui_db, 6)))
    window = make_window(ui_db)
    activate(qtbot, window)
    panel: Any = window.panel
    qtbot.waitUntil(lambda: ids[1] in window.feed.read_ahead, timeout=WAIT_MS)
    qtbot.wait(450)  # a person looks at a decision before clicking
    for _ in range(2):  # a double click: two presses and releases in quick succession
        qtbot.mouseClick(panel.form.accept_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    qtbot.wait(450)
    assert reviewed_ids(ui_db) == {ids[0]}
    assert shown_id(window) == ids[1]

    qtbot.wait(450)
    qtbot.mouseClick(panel.form.decision_buttons["deny"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)  # asks first
    qtbot.wait(450)
    qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)  # keeps it
    qtbot.wait(200)  # the second click of a slow double click
    qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert reviewed_ids(ui_db) == {ids[0], ids[1]}
    assert [e for e in reviews(ui_db) if e[0] == ids[2]] == []
    with PolicyDecisionLog(ui_db) as log:
        second = log.get_decision(ids[1])
    assert second is not None and second.review_decision == "deny"


# --- 3. every key acts, on the decision shown when it was pressed ------------------------

def test_ten_quick_accepts_review_ten_decisions_in_order(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 14)))
    window = make_window(ui_db)
    activate(qtbot, window)
    for _ in range(10):
        press(qtbot, window, Qt.Key.Key_A)
        qtbot.wait(20)  # faster than a person: 50 keys a second
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle and not window.feed.loading, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    events = reviews(ui_db)
    assert sorted(e[0] for e in events) == sorted(ids[:10])  # each once, none twice
    assert all(action == "accept" for _, action, _ in events)
    qtbot.waitUntil(lambda: shown_id(window) == ids[10], timeout=WAIT_MS)
    assert window.selected_decision_id() == ids[10]

    for _ in range(10):
        press(qtbot, window, Qt.Key.Key_Z, CTRL)
        qtbot.wait(20)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert reviewed_ids(ui_db) == set()
    assert [a for _, a, _ in reviews(ui_db)].count("undo") == 10
    # the last undone (the first reviewed) is selected and shown, in agreement
    qtbot.waitUntil(lambda: window.selected_decision_id() == ids[0]
                    and shown_id(window) == ids[0], timeout=1500)


def test_keys_pressed_while_the_next_decision_loads_wait_for_it(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 5)))
    window = make_window(ui_db)
    activate(qtbot, window)
    window.feed.forget()  # nothing read ahead: the next decision must be read first
    press(qtbot, window, Qt.Key.Key_A)
    assert window.feed.loading  # the panel still draws the first decision
    press(qtbot, window, Qt.Key.Key_4)  # meant for the second one
    press(qtbot, window, Qt.Key.Key_Return, CTRL)
    press(qtbot, window, Qt.Key.Key_Return, CTRL)  # keep the model's reasoning
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle and not window.feed.loading, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        first, second = log.get_decision(ids[0]), log.get_decision(ids[1])
    assert first is not None and first.review_action == "accept"
    assert second is not None and second.review_decision == "require_mfa"
    assert reviewed_ids(ui_db) == {ids[0], ids[1]}


# --- 4. after a commit the keys belong to the review flow --------------------------------

def test_after_saving_from_the_reasoning_box_the_next_keys_review(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 4)))
    window = make_window(ui_db)
    activate(qtbot, window)
    editor = window.panel.findChild(QPlainTextEdit, "reasoningEditor")
    press(qtbot, window, Qt.Key.Key_R)
    assert window.focusWidget() is editor
    qtbot.keyClicks(editor, " within normal duties")
    press(qtbot, window, Qt.Key.Key_Return, CTRL)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    assert window.focusWidget() is not editor
    press(qtbot, window, Qt.Key.Key_A)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(ui_db) as log:
        first, second = log.get_decision(ids[0]), log.get_decision(ids[1])
    assert first is not None and first.review_action == "correct_reasoning"
    assert first.review_reasoning is not None
    assert first.review_reasoning.endswith("within normal duties")
    assert second is not None and second.review_action == "accept"
    assert editor is not None and "aj" not in editor.toPlainText()


# --- 5. window shortcuts from every widget -----------------------------------------------

class X11LineEditKeys(QObject):
    """What ``QLineEdit`` does under X11's key scheme (Emacs-style Ctrl+A/B/E/F/K…):
    it claims those combinations in ``ShortcutOverride``. The offscreen platform
    uses another scheme, so the test puts this claim on the field itself."""

    CLAIMED = (Qt.Key.Key_A, Qt.Key.Key_B, Qt.Key.Key_E, Qt.Key.Key_F, Qt.Key.Key_K)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and event.modifiers() == CTRL and event.key() in self.CLAIMED:
            event.accept()
            return True
        return False


class RecordingLoop:
    """Stands in for the run/export machinery: records what the window asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def attach(self, window: MainWindow) -> None:
        window.run_quick_suite_requested.connect(lambda: self.asked.append("quick"))

    def open_run_dialog(self) -> None:
        self.asked.append("run")

    def open_export_wizard(self) -> None:
        self.asked.append("export")

    def open_compare(self) -> None:
        self.asked.append("compare")

    def may_close(self) -> bool:
        return True


def test_ctrl_shortcuts_work_while_the_search_box_has_focus(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 3)
    loop = RecordingLoop()
    parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                        is_text_input=is_text_input, loop=loop)
    window = make_window(ui_db, parts=parts)
    activate(qtbot, window)
    x11_keys = X11LineEditKeys(window)
    window.filter_bar.search.installEventFilter(x11_keys)
    qtbot.mouseClick(window.filter_bar.search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(window.filter_bar.search, "actor")
    qtbot.mouseClick(window.filter_bar.clear_button, Qt.MouseButton.LeftButton)
    window.filter_bar.search.setFocus()
    assert QApplication.focusWidget() is window.filter_bar.search
    for key in (Qt.Key.Key_E, Qt.Key.Key_R):
        press(qtbot, window, key, CTRL)
    assert loop.asked == ["export", "run"]
    press(qtbot, window, Qt.Key.Key_B, CTRL)
    assert window.settings.blind_review
    press(qtbot, window, Qt.Key.Key_A)  # a letter is still typed there
    assert window.filter_bar.search.text() == "a"
    assert reviewed_ids(ui_db) == set()

    editor = window.panel.findChild(QPlainTextEdit, "reasoningEditor")
    assert editor is not None
    editor.installEventFilter(x11_keys)
    press(qtbot, window, Qt.Key.Key_B, CTRL)  # blind off, so the editor is enabled
    window.table.setFocus()
    press(qtbot, window, Qt.Key.Key_R)
    assert window.focusWidget() is editor
    press(qtbot, window, Qt.Key.Key_E, CTRL)
    assert loop.asked == ["export", "run", "export"]




# --- 13. messages never draw over the key hint -------------------------------------------

def test_a_status_message_replaces_the_key_hint_while_it_shows(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 4)
    window = make_window(ui_db)
    activate(qtbot, window)
    status: Any = window.status
    assert status.keys_hint.isVisible()
    press(qtbot, window, Qt.Key.Key_A)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: status.currentMessage().startswith("Saved"), timeout=WAIT_MS)
    wait_idle(qtbot, window)  # the table was re-read and shown again meanwhile
    assert status.message_label.isVisible() and not status.keys_hint.isVisible()
    hint, message = status.keys_hint.geometry(), status.message_label.geometry()
    assert not (status.keys_hint.isVisible() and hint.intersects(message))
    qtbot.waitUntil(lambda: status.keys_hint.isVisible(), timeout=4000)  # after 2.5 s
    assert status.currentMessage() == "" and not status.message_label.isVisible()


# --- 6. review state at a glance, and "all done — next queue?" ---------------------------

def test_incorrect_view_marks_reviewed_rows_and_offers_the_next_queue(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 5)
    wrong = fill(ui_db, 3, decision="deny", decision_correct=False,
                 timestamp="2026-02-03T09:00:00+00:00", reasoning=None)
    window = make_window(ui_db)
    activate(qtbot, window)
    qtbot.mouseClick(window.filter_bar.view_buttons["incorrect"], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.model.rowCount() == 3
    assert not window.queue_done.isVisible()
    window.table.setFocus()
    press(qtbot, window, Qt.Key.Key_1)
    press(qtbot, window, Qt.Key.Key_Return, CTRL)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    states = {window.model.index(r, Col.TIME).data(window.model.StateRole)
              for r in range(window.model.rowCount())}
    assert states == {"unreviewed", "corrected"}
    icons = {window.model.index(r, Col.TIME).data(Qt.ItemDataRole.DecorationRole) is None
             for r in range(window.model.rowCount())}
    assert icons == {False}  # every row carries its state icon in the first column
    reviewed_row = next(r for r in range(3)
                        if window.model.index(r, 0).data(window.model.StateRole) != "unreviewed")
    open_row = next(r for r in range(3)
                    if window.model.index(r, 0).data(window.model.StateRole) == "unreviewed")
    fg = Qt.ItemDataRole.ForegroundRole
    assert window.model.index(reviewed_row, Col.ACTOR).data(fg) != \
        window.model.index(open_row, Col.ACTOR).data(fg)  # done rows recede
    for _ in range(2):
        press(qtbot, window, Qt.Key.Key_A)
        wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert reviewed_ids(ui_db) >= set(wrong)
    qtbot.waitUntil(window.queue_done.isVisible, timeout=WAIT_MS)
    assert "every decision in Incorrect is reviewed" in window.queue_done.text.text()
    assert window.queue_done.next_button.text() == "Next: Unreviewed (5)"
    qtbot.mouseClick(window.queue_done.next_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.filter_bar.filter.view == "unreviewed"
    assert window.model.rowCount() == 5
    qtbot.waitUntil(lambda: not window.queue_done.isVisible(), timeout=WAIT_MS)


# --- 14. long values wrap or elide; the form stays in view -------------------------------

def test_a_20kb_value_neither_widens_the_panel_nor_hides_the_form(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from window_helpers import make_decision

    token = "x" * 20_000  # no space to wrap at
    with PolicyDecisionLog(ui_db) as log:
        long_id = log.log_decision(make_decision(1, situation={
            "actor": "ops", "action": "write", "target": "docs/a.md", "note": token},
            reasoning="r" * 3000))
    window = make_window(ui_db)
    window.resize(1280, 800)
    activate(qtbot, window)
    qtbot.waitUntil(lambda: shown_id(window) == long_id, timeout=WAIT_MS)
    panel: Any = window.panel
    qtbot.waitUntil(lambda: panel.scroll.widget().width() <= panel.scroll.viewport().width(),
                    timeout=WAIT_MS)
    assert panel.detail.minimumSizeHint().width() < panel.scroll.viewport().width()
    assert panel.form.isVisible()
    editor = panel.form.editor
    assert editor.visibleRegion().boundingRect().height() >= editor.height() - 2
    assert panel.form.geometry().bottom() <= panel.height()
    from policy_desktop.ui.detail_view import LongValue

    note = [w for w in panel.detail.findChildren(LongValue) if w.full_text == token]
    assert len(note) == 1 and note[0].toggle is not None
    assert len(note[0].text()) < 700  # elided …
    qtbot.mouseClick(note[0].toggle, Qt.MouseButton.LeftButton)  # … and shown on request
    assert note[0].box is not None and note[0].box.toPlainText() == token
    assert panel.detail.situation.value_texts()["note"] == token


# --- 16. labels whole, room for the situation, clear wording ------------------------------

def test_decision_labels_fit_and_the_smallest_window_shows_the_situation(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 3)
    window = make_window(ui_db)
    activate(qtbot, window)
    window.resize(window.minimumSizeHint())  # as small as the reviewer can make it
    qtbot.wait(50)
    panel: Any = window.panel
    for decision, button in panel.form.decision_buttons.items():
        panel.choose_decision(decision)  # checked: bold, the widest it gets
        bold = button.font()
        bold.setBold(True)
        needed = QFontMetrics(bold).horizontalAdvance(button.text())
        assert button.width() >= needed + 12, (decision, button.width(), needed)
    assert panel.scroll.viewport().height() >= 200  # the situation keeps room
    assert window.minimumSizeHint().width() <= 1280
    qtbot.keyClicks(window.filter_bar.search, "actor")  # "Clear filters" appears
    qtbot.waitUntil(window.filter_bar.clear_button.isVisible, timeout=WAIT_MS)
    assert window.minimumSizeHint().width() <= 1280  # a 1280-px screen still holds it


def test_the_statistics_say_what_the_correction_count_means(qtbot: QtBot) -> None:
    from policy_desktop.ui.statistics_view import StatisticsView

    view = StatisticsView()
    qtbot.addWidget(view)
    view._show_statistics({"total": 20, "reviewed": 13, "unreviewed": 7, "corrections": 9,
                           "accepted": 4})
    texts = " ".join(label.text() for label in view.findChildren(QLabel))
    assert "of 13 reviewed; the other 4 were accepted as correct" in texts
    assert "accepted as they were" not in texts


# --- what reviewers asked for: from a chart to the decisions ------------------------------

def test_clicking_a_confusion_matrix_cell_lists_those_decisions(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from policy_desktop.store.analytics import collect_statistics
    from policy_desktop.ui.statistics_view import StatisticsView

    fill(ui_db, 4)  # expected allow, answered allow
    wrong = fill(ui_db, 3, decision="deny", decision_correct=False,
                 timestamp="2026-02-03T09:00:00+00:00")  # expected allow, answered deny
    view = StatisticsView()
    parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                        is_text_input=is_text_input, statistics_view=view,
                        collect_statistics=collect_statistics)
    window = make_window(ui_db, parts=parts)
    window.show_statistics()
    qtbot.waitUntil(lambda: view.data is not None, timeout=WAIT_MS)
    from PySide6.QtWidgets import QTableWidget

    matrix = view.findChild(QTableWidget, "confusionMatrix")
    assert matrix is not None
    cell = matrix.visualItemRect(matrix.item(0, 1))  # expected allow · answered deny
    qtbot.mouseClick(matrix.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    wait_idle(qtbot, window)
    assert window.tabs.currentWidget() is window.review_pages
    flt = window.filter_bar.filter
    assert (flt.view, flt.decision, flt.expected) == ("all", "deny", "allow")
    assert sorted(window.model.decision_id(r) for r in range(window.model.rowCount())) \
        == sorted(wrong)
    assert "expected Allow" in window.filter_bar.clear_button.text()
    qtbot.mouseClick(window.filter_bar.clear_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.filter_bar.filter.expected is None and window.model.rowCount() == 7


def test_clicking_a_bar_of_the_decision_chart_lists_those_decisions(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from PySide6.QtCharts import QChartView
    from PySide6.QtCore import QPointF

    from policy_desktop.store.analytics import collect_statistics
    from policy_desktop.ui.statistics_view import StatisticsView
    from policy_desktop.vocabulary import UNPARSEABLE

    fill(ui_db, 4)  # answered allow
    denied = fill(ui_db, 3, decision="deny", decision_correct=False,
                  timestamp="2026-02-03T09:00:00+00:00")
    view = StatisticsView()
    parts = WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                        is_text_input=is_text_input, statistics_view=view,
                        collect_statistics=collect_statistics)
    window = make_window(ui_db, parts=parts)
    window.show_statistics()
    qtbot.waitUntil(lambda: view.data is not None, timeout=WAIT_MS)
    chart_view = view.findChild(QChartView, "distributionChart")
    assert chart_view is not None
    chart_view.ensureVisible(0, 0, 1, 1)
    qtbot.waitExposed(chart_view)
    chart = chart_view.chart()
    bar = chart.mapToPosition(QPointF((*DECISIONS, UNPARSEABLE).index("deny"), 1.5),
                              chart.series()[0])
    qtbot.mouseClick(chart_view.viewport(), Qt.MouseButton.LeftButton,
                     pos=chart_view.mapFromScene(chart.mapToScene(bar)))
    wait_idle(qtbot, window)
    assert window.tabs.currentWidget() is window.review_pages
    flt = window.filter_bar.filter
    assert (flt.view, flt.decision) == ("all", "deny")
    assert sorted(window.model.decision_id(r) for r in range(window.model.rowCount())) \
        == sorted(denied)


def test_prompt_versions_can_be_read_from_the_runs_menu(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from policy_desktop.ui.prompt_viewer import PromptViewer

    fill(ui_db, 1)
    window = make_window(ui_db)
    window.actions_by_id["prompt_versions"].trigger()
    viewer = window.findChild(PromptViewer)
    assert viewer is not None and viewer.isVisible()
    assert viewer.versions.count() >= 2
    viewer.versions.setCurrentIndex(viewer.versions.findText("v2_fewshot_8examples"))
    text = viewer.text.toPlainText()
    assert "## Instructions" in text and "## Examples" in text
    assert "8 examples" in viewer.about.text()
    viewer.reject()


# --- what reviewers asked for: accept a filtered selection after a look ----------------

def test_accept_all_selected_after_a_look(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from PySide6.QtWidgets import QMessageBox

    ids = list(reversed(fill(ui_db, 6)))
    with PolicyDecisionLog(ui_db) as log:
        log.mark_reviewed(ids[1], "deny", None, "someone")  # already reviewed: left alone
    window = make_window(ui_db)
    qtbot.mouseClick(window.filter_bar.view_buttons["all"], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    activate(qtbot, window)
    table = window.table
    first = table.visualRect(window.model.index(0, Col.ACTOR)).center()
    fourth = table.visualRect(window.model.index(3, Col.ACTOR)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=first)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ShiftModifier, pos=fourth)
    assert len(table.selected_decision_ids()) == 4
    action = window.actions_by_id["accept_selected"]
    assert action.isEnabled()
    action.trigger()
    box = window.findChild(QMessageBox, "acceptSelectedBox")
    assert box is not None and "3 decisions" in box.text() and "1 selected" in box.text()
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.executor.idle, timeout=WAIT_MS)
    with PolicyDecisionLog(ui_db) as log:
        states = {i: (log.get_decision(i).review_action, log.get_decision(i).reviewer)  # type: ignore[union-attr]
                  for i in ids[:4]}
    assert states == {ids[0]: ("accept", "tess"), ids[1]: ("correct_decision", "someone"),
                      ids[2]: ("accept", "tess"), ids[3]: ("accept", "tess")}
    activate(qtbot, window)  # back from the question, as the window manager does
    press(qtbot, window, Qt.Key.Key_B, CTRL)  # blind review: every decision needs a choice
    assert window.settings.blind_review
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=first)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ShiftModifier, pos=fourth)
    assert not action.isEnabled()


def test_arrow_keys_belong_to_a_focused_combo_box_letters_to_the_review(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 3)
    window = make_window(ui_db)
    activate(qtbot, window)
    wait_idle(qtbot, window)
    combo = window.filter_bar.decision_combo
    window.table.selectRow(0)
    before = shown_id(window)
    combo.setFocus()
    assert QApplication.focusWidget() is combo
    press(qtbot, window, Qt.Key.Key_Down)  # the combo moves on, the table stays put
    assert combo.currentIndex() == 1
    press(qtbot, window, Qt.Key.Key_Up)
    assert combo.currentIndex() == 0
    wait_idle(qtbot, window)
    assert shown_id(window) == before
    combo.setFocus()
    press(qtbot, window, Qt.Key.Key_J)  # a letter there is still the review's
    qtbot.waitUntil(lambda: shown_id(window) != before, timeout=WAIT_MS)
