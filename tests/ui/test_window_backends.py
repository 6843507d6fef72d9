"""The real window on either backend (``store_location``: a SQLite file, or a database
on the PostgreSQL test server): reviews by keys and clicks land in the log, another
client's writes show up, the Statistics tab shows the team's figures, and the window
never shows a password."""

from __future__ import annotations

from typing import Any

from conftest import real_parts
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, make_decision, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.store.team_statistics import collect_statistics_with_team
from policy_desktop.ui.statistics_view import StatisticsView


def _fill(location: str, count: int) -> list[str]:
    """``count`` decisions, newest first (the order the table shows them)."""
    with PolicyDecisionLog(location) as log:
        decisions = [make_decision(i) for i in range(count)]
        log.log_decisions(decisions)
    return [d.decision_id or "" for d in reversed(decisions)]


def test_reviews_by_keys_and_clicks_reach_the_log(
        qtbot: QtBot, make_window: Any, store_location: str) -> None:
    ids = _fill(store_location, 5)
    window = make_window(store_location)
    assert window.model.rowCount() == 5
    assert "policy-test-pw" not in window.windowTitle()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()
    qtbot.keyClick(window.focusWidget() or window.table, Qt.Key.Key_A)  # accept the first
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.shown_decision is not None
                    and window.shown_decision.decision_id == ids[1], timeout=WAIT_MS)
    panel: Any = window.panel
    qtbot.wait(50)
    qtbot.mouseClick(panel.form.decision_buttons["deny"], Qt.MouseButton.LeftButton)
    for _ in range(2):  # the first asks to keep the model's reasoning, the second keeps it
        qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)
        qtbot.wait(450)
    wait_idle(qtbot, window)
    with PolicyDecisionLog(store_location, create=False) as log:
        first, second = log.get_decision(ids[0]), log.get_decision(ids[1])
        assert first is not None and first.review_action == "accept"
        assert first.reviewer == window.settings.reviewer
        assert second is not None and second.review_decision == "deny"
        assert log.get_statistics()["reviewed"] == 2


def test_another_client_s_decisions_appear_in_the_table(
        qtbot: QtBot, make_window: Any, store_location: str) -> None:
    _fill(store_location, 3)
    window = make_window(store_location)
    assert window.model.rowCount() == 3
    with PolicyDecisionLog(store_location, create=False) as other:
        other.log_decision(make_decision(99))
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=WAIT_MS)


def test_the_statistics_tab_shows_the_team_on_the_window_s_database_thread(
        qtbot: QtBot, make_window: Any, store_location: str) -> None:
    ids = _fill(store_location, 4)
    with PolicyDecisionLog(store_location, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        for name, answers in (("ann", "AADD"), ("bob", "AADA")):
            for claim in queue.claim(name, 10):
                answer = "allow" if answers[ids.index(claim.decision_id)] == "A" else "deny"
                queue.submit(claim, answer)
    parts = real_parts()
    view = StatisticsView()
    parts.statistics_view = view
    parts.collect_statistics = collect_statistics_with_team
    window = make_window(store_location, parts=parts)
    window.show_statistics()
    qtbot.waitUntil(lambda: view.team_section.isVisible(), timeout=WAIT_MS)
    # (A,A) (A,A) (D,D) (D,A): p_o = 3/4, ann A2 D2, bob A3 D1: κ = 0.50, α = 0.53.
    assert (view.kappa.value.text(), view.alpha.value.text()) == ("0.50", "0.53")
    assert view.awaiting.value.text() == "1"
