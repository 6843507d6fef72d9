"""The window on the team's shared review queue (issue 14): claimed batches, conflicts
shown and moved past, blind second opinions, claims given back; driven by keys and
clicks, the database checked after."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import real_parts
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.ui.main_window import MainWindow
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.tasks import DbExecutor
from policy_desktop.ui.theme import Theme

CTRL = Qt.KeyboardModifier.ControlModifier


def activate(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()


def press(qtbot: QtBot, window: MainWindow, key: Qt.Key,
          modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.focusWidget() or window.table, key, modifier)
    wait_idle(qtbot, window)


def team_database(path: str, count: int, overlap: float = 0.0) -> list[str]:
    """``count`` decisions in a database a team works (its queue tables exist)."""
    ids = fill(path, count)
    with PolicyDecisionLog(path) as log:
        ReviewQueue(log).set_overlap_percent(overlap)
    return ids


def open_claims(path: str) -> list[tuple[str, str]]:
    """(decision id, reviewer) of every unfinished claim in the file."""
    with PolicyDecisionLog(path) as log:
        rows = log.database.execute_sql(
            "SELECT decision_id, reviewer FROM review_claims WHERE done = 0").fetchall()
    return sorted((row[0], row[1]) for row in rows)


def history(path: str) -> dict[str, list[tuple[str, str | None]]]:
    """Every decision's review events: (action, reviewer), oldest first."""
    with PolicyDecisionLog(path) as log:
        return {d.decision_id: [(e.action, e.reviewer)
                                for e in log.get_review_history(d.decision_id)]
                for d in log.get_all_decisions() if d.decision_id}


def claimed(window: MainWindow) -> bool:
    return bool(window.queue.desk.claims) and window.executor.idle


@pytest.fixture
def reviewer_window(qtbot: QtBot, tmp_path: Path) -> Iterator[Any]:
    """Windows with their own reviewer, settings and database thread (two reviewers'
    apps); closed and joined at teardown."""
    built: list[tuple[MainWindow, DbExecutor]] = []

    def build(database: str, reviewer: str) -> MainWindow:
        settings = Settings(tmp_path / f"{reviewer}.ini")
        settings.reviewer = reviewer
        executor = DbExecutor()
        window = MainWindow(settings, executor, Theme(settings.theme), real_parts(),
                            poll_interval_ms=100)
        built.append((window, executor))
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        window.open_database(str(database))
        wait_idle(qtbot, window)
        return window

    yield build
    for window, executor in built:
        window.close()
        executor.shutdown()
        window.deleteLater()


def test_two_windows_on_one_file_never_review_the_same_queue_decision(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    ids = team_database(ui_db, 30)
    ann, bob = reviewer_window(ui_db, "ann"), reviewer_window(ui_db, "bob")
    for window in (ann, bob):  # a team database: the window works the queue by itself
        assert window.actions_by_id["team_queue"].isChecked()
        qtbot.waitUntil(lambda w=window: claimed(w), timeout=WAIT_MS)
    assert not {c.decision_id for c in ann.queue.desk.claims} & {
        c.decision_id for c in bob.queue.desk.claims}
    assert "claimed for you" in ann.review_pages.queue_bar.state.text()

    for _ in range(12):  # both accept as fast as they can, turn about
        for window in (ann, bob):
            activate(qtbot, window)
            press(qtbot, window, Qt.Key.Key_A)
    for window in (ann, bob):
        qtbot.waitUntil(lambda w=window: w.executor.idle, timeout=WAIT_MS)

    events = history(ui_db)
    reviewed = {i: e for i, e in events.items() if e}
    assert len(reviewed) == 24  # none lost
    assert all(len(e) == 1 for e in reviewed.values())  # none reviewed twice
    by = {name: {i for i, e in reviewed.items() if e[0][1] == name} for name in ("ann", "bob")}
    assert len(by["ann"]) == len(by["bob"]) == 12
    assert set(reviewed) <= set(ids)


def test_a_claim_lost_to_another_reviewer_is_shown_and_the_window_moves_on(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    team_database(ui_db, 12)
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    first = ann.queue.desk.current
    assert first is not None and ann.shown_decision is not None
    assert ann.shown_decision.decision_id == first.decision_id
    # Ann's leases ran out (an hour later for bob's clock) and bob took her batch over.
    with PolicyDecisionLog(ui_db) as log:
        taken = ReviewQueue(log, clock=lambda: time.time() + 3600).claim("bob", 5)
    assert first.decision_id in {c.decision_id for c in taken}

    activate(qtbot, ann)
    press(qtbot, ann, Qt.Key.Key_A)
    bar = ann.review_pages.queue_bar
    qtbot.waitUntil(lambda: bar.conflict.isVisible(), timeout=WAIT_MS)
    assert f"{first.decision_id} is now claimed by bob" in bar.conflict.text()
    assert "not saved" in bar.conflict.text()
    assert "claimed by bob" in ann.statusBar().currentMessage()
    assert ann.shown_decision is not None
    assert ann.shown_decision.decision_id != first.decision_id  # moved on
    assert history(ui_db)[first.decision_id] == []  # nothing saved over bob's claim


def test_a_decision_reviewed_meanwhile_outside_the_queue_is_told_and_stands(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    team_database(ui_db, 8)
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    first = ann.queue.desk.current
    assert first is not None
    with PolicyDecisionLog(ui_db) as log:  # an older client, writing directly
        log.mark_reviewed(first.decision_id, "deny", None, "carl")

    activate(qtbot, ann)
    press(qtbot, ann, Qt.Key.Key_A)
    bar = ann.review_pages.queue_bar
    qtbot.waitUntil(lambda: bar.conflict.isVisible(), timeout=WAIT_MS)
    assert "reviewed meanwhile by carl" in bar.conflict.text()
    assert history(ui_db)[first.decision_id] == [("correct_decision", "carl")]
    # Ctrl+Z has nothing of ann's to take back: the refused review is not on her stack.
    assert not ann.actions_by_id["undo"].isEnabled()


def test_a_second_opinion_hides_the_first_review_and_the_models_answer(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    ids = team_database(ui_db, 1, overlap=100.0)
    with PolicyDecisionLog(ui_db) as log:  # bob gives the first review
        queue = ReviewQueue(log)
        [first] = queue.claim("bob", 1)
        queue.submit(first, "deny", "BOB'S REASONING stays private")

    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    claim = ann.queue.desk.current
    assert claim is not None and claim.second_opinion and claim.decision_id == ids[0]
    panel: Any = ann.panel
    qtbot.waitUntil(lambda: ann.shown_decision is not None, timeout=WAIT_MS)
    assert ann.shown_decision is not None and not ann.shown_decision.reviewed
    assert panel.is_blind_review() and not panel.detail.is_model_answer_visible()
    shown_text = " ".join(label.text() for label in panel.findChildren(type(ann.progress_label))
                          if label.isVisible())
    assert "BOB" not in shown_text and "bob" not in shown_text
    assert "second opinion" in ann.review_pages.queue_bar.state.text()
    assert not ann.table.selectionModel().selectedRows()  # no row looks like the one shown
    assert not ann.settings.blind_review  # the reviewer's own setting is left alone

    activate(qtbot, ann)
    press(qtbot, ann, Qt.Key.Key_1)  # allow: her own answer, before seeing the model's
    assert panel.detail.is_model_answer_visible()
    assert "BOB" not in " ".join(label.text() for label in panel.findChildren(
        type(ann.progress_label)) if label.isVisible())
    press(qtbot, ann, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: len(history(ui_db)[ids[0]]) == 2, timeout=WAIT_MS)
    assert [r for _, r in history(ui_db)[ids[0]]] == ["bob", "ann"]
    with PolicyDecisionLog(ui_db) as log:
        slots = log.database.execute_sql(
            "SELECT slot, reviewer, done FROM review_claims ORDER BY slot").fetchall()
        assert [tuple(s) for s in slots] == [(0, "bob", 1), (1, "ann", 1)]
        assert log.get_decision(ids[0]).review_decision == "allow"  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: not panel.is_blind_review(), timeout=WAIT_MS)  # back to normal


def test_claims_are_given_back_on_another_view_and_when_the_window_closes(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = fill(ui_db, 9)
    window = make_window(ui_db)
    assert not window.actions_by_id["team_queue"].isChecked()  # not a team database
    window.actions_by_id["team_queue"].trigger()  # Review → Work the team queue
    qtbot.waitUntil(lambda: claimed(window), timeout=WAIT_MS)
    assert [r for _, r in open_claims(ui_db)] == ["tess"] * 5
    assert window.shown_decision is not None
    assert window.shown_decision.decision_id == ids[-1]  # newest first, as the table

    qtbot.mouseClick(window.filter_bar.view_buttons["all"], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert open_claims(ui_db) == []  # another view: given back
    assert window.review_pages.queue_bar.isHidden()
    qtbot.mouseClick(window.filter_bar.view_buttons["unreviewed"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: claimed(window), timeout=WAIT_MS)
    assert len(open_claims(ui_db)) == 5

    window.close()
    assert open_claims(ui_db) == []  # closing gives them back before the thread ends


def test_a_row_outside_the_queue_is_still_reviewed_directly(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    ids = team_database(ui_db, 10)
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    claims = {c.decision_id for c in ann.queue.desk.claims}
    row = next(r for r in range(ann.model.rowCount())
               if ann.model.decision_id(r) not in claims)
    outside = ann.model.decision_id(row)
    activate(qtbot, ann)
    qtbot.mouseClick(ann.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=ann.table.visualRect(ann.model.index(row, 1)).center())
    qtbot.waitUntil(lambda: ann.shown_decision is not None
                    and ann.shown_decision.decision_id == outside, timeout=WAIT_MS)
    assert "not one of your claims" in ann.review_pages.queue_bar.state.text()
    press(qtbot, ann, Qt.Key.Key_A)
    assert history(ui_db)[outside] == [("accept", "ann")]
    assert outside in ids and outside not in {d for d, _ in open_claims(ui_db)}
    # and the flow is back on her claims
    assert ann.shown_decision is not None and ann.shown_decision.decision_id in claims


def test_a_reviewer_in_another_thread_and_the_window_share_the_queue(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    team_database(ui_db, 40)
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    stop = threading.Event()
    done: list[str] = []

    def bob() -> None:  # 15 reviews at his own pace, while ann works in the window
        with PolicyDecisionLog(ui_db) as log:
            queue = ReviewQueue(log)
            while not stop.is_set() and len(done) < 15 and (claims := queue.claim("bob", 2)):
                for claim in claims:
                    queue.submit(claim)
                    done.append(claim.decision_id)

    thread = threading.Thread(target=bob)
    thread.start()
    try:
        activate(qtbot, ann)
        for _ in range(10):
            press(qtbot, ann, Qt.Key.Key_A)
    finally:
        stop.set()
        thread.join(timeout=30)
    qtbot.waitUntil(lambda: ann.executor.idle, timeout=WAIT_MS)
    events = {i: e for i, e in history(ui_db).items() if e}
    assert all(len(e) == 1 for e in events.values())  # one review each, nothing twice
    assert sum(1 for e in events.values() if e[0][1] == "ann") == 10
    assert sum(1 for e in events.values() if e[0][1] == "bob") == len(done) > 0


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise",
                           "does not support grabbing the keyboard")  # the offscreen popup
def test_my_queue_hands_out_only_the_decisions_assigned_to_me(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    from policy_desktop.store.assignments import Assignments
    from policy_desktop.store.queries import DecisionFilter

    team_database(ui_db, 12)
    with PolicyDecisionLog(ui_db) as log:
        mine = Assignments(log).assign("ann", DecisionFilter(text="actor00"), by="lead",
                                       limit=3)
    assert mine.assigned == 3
    with PolicyDecisionLog(ui_db) as log:
        assigned = set(Assignments(log).my_queue("ann"))
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    bar = ann.review_pages.queue_bar
    assert bar.pool.itemText(1) == "My queue (3)"
    qtbot.mouseClick(bar.pool, Qt.MouseButton.LeftButton)  # open the list: "My queue"
    view = bar.pool.view()
    qtbot.waitUntil(view.isVisible, timeout=WAIT_MS)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: claimed(ann) and ann.queue.desk.pool == "mine", timeout=WAIT_MS)
    assert {c.decision_id for c in ann.queue.desk.claims} == assigned
    assert {d for d, _ in open_claims(ui_db)} == assigned  # the first batch went back

    activate(qtbot, ann)
    press(qtbot, ann, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: bar.pool.itemText(1) == "My queue (2)", timeout=WAIT_MS)
    for _ in range(2):
        press(qtbot, ann, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: "nothing left" in bar.state.text(), timeout=WAIT_MS)
    reviewed = {i for i, e in history(ui_db).items() if e}
    assert reviewed == assigned
    qtbot.waitUntil(lambda: bar.pool.itemText(1) == "My queue (0)", timeout=WAIT_MS)


def test_a_filter_is_delegated_to_a_named_reviewer_from_the_review_menu(
        qtbot: QtBot, make_window: Any, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    from policy_desktop.store.assignments import Assignments

    ids = fill(ui_db, 12)  # actor000 … actor011, newest last
    window = make_window(ui_db)
    window.filter_bar.search.setText("actor01")
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=WAIT_MS)
    offered: list[list[str]] = []

    def get_item(_parent: Any, _title: str, label: str, items: list[str], *_args: Any
                 ) -> tuple[str, bool]:
        offered.append(list(items))
        assert "text=actor01" in label
        return "bob", True

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    window.actions_by_id["assign_filter"].trigger()
    qtbot.waitUntil(lambda: any(isinstance(d, QMessageBox) for d in window.dialogs.open),
                    timeout=WAIT_MS)
    box = next(d for d in window.dialogs.open if isinstance(d, QMessageBox))
    assert "2 decisions put in bob's queue." in box.text()
    with PolicyDecisionLog(ui_db) as log:
        assert set(Assignments(log).my_queue("bob")) == set(ids[10:])
    assert offered == [[]]  # nobody known yet: any name may be typed
    box.accept()


def test_a_second_opinion_stays_on_show_while_other_reviewers_change_the_table(
        qtbot: QtBot, reviewer_window: Any, ui_db: str) -> None:
    team_database(ui_db, 6, overlap=100.0)
    with PolicyDecisionLog(ui_db) as log:  # bob gives the first review of one
        queue = ReviewQueue(log)
        [first] = queue.claim("bob", 1)
        queue.submit(first, "deny")
        queue.release("bob")
    ann = reviewer_window(ui_db, "ann")
    qtbot.waitUntil(lambda: claimed(ann), timeout=WAIT_MS)
    claim = ann.queue.desk.current
    assert claim is not None and claim.second_opinion
    qtbot.waitUntil(lambda: ann.shown_decision is not None
                    and ann.shown_decision.decision_id == claim.decision_id, timeout=WAIT_MS)
    current_row = ann.model.decision_id(ann.table.currentIndex().row())
    assert current_row is not None and current_row != claim.decision_id
    with PolicyDecisionLog(ui_db) as log:  # carl reviews the table's current row
        log.mark_reviewed(current_row, reviewer="carl")
    qtbot.waitUntil(lambda: ann.model.row_of(current_row) < 0, timeout=WAIT_MS)
    wait_idle(qtbot, ann)
    assert ann.shown_decision is not None
    assert ann.shown_decision.decision_id == claim.decision_id  # still the second opinion
    assert ann.panel.is_blind_review()  # type: ignore[attr-defined]

    activate(qtbot, ann)
    press(qtbot, ann, Qt.Key.Key_J)  # her own move: the table's row again
    assert ann.shown_decision is not None
    assert ann.shown_decision.decision_id == ann.selected_decision_id()


def test_opening_a_team_database_without_a_name_asks_nothing_until_joining(
        qtbot: QtBot, reviewer_window: Any, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    team_database(ui_db, 6)
    asked: list[str] = []

    def get_text(*_args: Any, **_kwargs: Any) -> tuple[str, bool]:
        asked.append("name")
        return "dana", True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    window = reviewer_window(ui_db, "")
    bar = window.review_pages.queue_bar
    qtbot.waitUntil(lambda: "Work the team queue to join" in bar.state.text(), timeout=WAIT_MS)
    assert asked == [] and open_claims(ui_db) == []
    assert not window.actions_by_id["team_queue"].isChecked()

    window.actions_by_id["team_queue"].trigger()
    qtbot.waitUntil(lambda: claimed(window), timeout=WAIT_MS)
    assert asked == ["name"] and window.settings.reviewer == "dana"
    assert {r for _, r in open_claims(ui_db)} == {"dana"}
