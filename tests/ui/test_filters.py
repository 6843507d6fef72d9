"""The filter bar: views with counts, debounced search, facet menus, header sorting."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, make_decision, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.decisions_model import Col
from policy_desktop.ui.filter_bar import FilterBar, view_text
from policy_desktop.ui.main_window import EMPTY_PAGE, MainWindow


def mixed_log(path: str) -> dict[str, list[str]]:
    """12 decisions: 3 incorrect, 4 reviewed (2 corrected), two models, a run, a deny."""
    with PolicyDecisionLog(path) as log:
        run_id = log.start_run(model_name="phi-4-mini", prompt_version="v1_baseline")
        decisions = [make_decision(n) for n in range(8)]
        decisions += [make_decision(8 + n, decision="deny", decision_correct=False,
                                    model_name="phi-4-mini", prompt_version="v1_baseline",
                                    run_id=run_id, situation={"actor": "mallory",
                                                              "action": "write",
                                                              "target": "src/auth.py"})
                      for n in range(3)]
        decisions.append(make_decision(11, decision="require_mfa", expected_decision=None,
                                       decision_correct=None))
        log.log_decisions(decisions)
        ids = [d.decision_id for d in decisions]
        log.mark_reviewed(ids[0], reviewer="ann")
        log.mark_reviewed(ids[1], reviewer="ann")
        log.mark_reviewed(ids[8], "allow", reviewer="ann")
        log.mark_reviewed(ids[2], review_reasoning="Better reasoning.", reviewer="ann")
    return {"all": ids, "run": [run_id]}  # type: ignore[dict-item]


def rows(window: MainWindow) -> list[str | None]:
    return [window.model.decision_id(row) for row in range(window.model.rowCount())]


def click_view(qtbot: QtBot, window: MainWindow, view: str) -> None:
    qtbot.mouseClick(window.filter_bar.view_buttons[view], Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)


def test_views_show_their_counts_and_filter_in_the_store(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = mixed_log(ui_db)["all"]
    window = make_window(ui_db)
    texts = {view: button.text() for view, button in window.filter_bar.view_buttons.items()
             if button.isVisible()}
    assert texts == {"unreviewed": "Unreviewed (8)", "incorrect": "Incorrect (3)",
                     "corrections": "Corrections (2)", "reviewed": "Reviewed (4)",
                     "all": "All (12)"}
    assert window.filter_bar.view_buttons["unreviewed"].isChecked()
    assert window.model.rowCount() == 8
    click_view(qtbot, window, "incorrect")
    assert sorted(rows(window)) == sorted(ids[8:11])
    click_view(qtbot, window, "corrections")
    assert sorted(rows(window)) == sorted([ids[2], ids[8]])
    click_view(qtbot, window, "reviewed")
    assert window.model.rowCount() == 4
    click_view(qtbot, window, "all")
    assert window.model.rowCount() == 12
    assert window.progress_label.text() == "Reviewed 4 of 12 (33%)"
    assert window.view_actions["all"].isChecked()


def test_search_is_debounced_and_updates_the_counts(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = mixed_log(ui_db)["all"]
    window = make_window(ui_db)
    qtbot.keyClicks(window.filter_bar.search, "mallory")
    assert window.model.filter.text == ""  # not yet: typing is still going on
    qtbot.waitUntil(lambda: window.model.filter.text == "mallory", timeout=WAIT_MS)
    wait_idle(qtbot, window)
    assert sorted(rows(window)) == sorted(ids[9:11])  # the unreviewed ones
    assert window.filter_bar.counts == {"all": 3, "unreviewed": 2, "incorrect": 3,
                                        "corrections": 1, "reviewed": 1}
    assert window.filter_bar.clear_button.isVisible()
    qtbot.keyClicks(window.filter_bar.search, "zzz")
    qtbot.keyClick(window.filter_bar.search, Qt.Key.Key_Return)  # Enter searches at once
    wait_idle(qtbot, window)
    assert window.current_page() == EMPTY_PAGE
    assert window.empty_view.title.text() == "No decisions match"
    qtbot.mouseClick(window.filter_bar.clear_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.model.rowCount() == 8
    assert window.filter_bar.search.text() == ""


def test_menus_are_filled_from_the_facets_and_filter(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    data = mixed_log(ui_db)
    ids = data["all"]
    window = make_window(ui_db)
    bar = window.filter_bar
    models = [bar.facet_combos["model_name"].itemText(i)
              for i in range(bar.facet_combos["model_name"].count())]
    assert models == ["Any model", "gemma-3-270m", "phi-4-mini"]
    assert bar.facet_combos["run_id"].itemData(1) == data["run"][0]
    assert bar.facet_combos["prompt_version"].count() == 3
    bar.decision_combo.setCurrentIndex(bar.decision_combo.findData("require_mfa"))
    wait_idle(qtbot, window)
    assert rows(window) == [ids[11]]
    bar.decision_combo.setCurrentIndex(0)
    bar.facet_combos["run_id"].setCurrentIndex(1)
    wait_idle(qtbot, window)
    assert sorted(rows(window)) == sorted(ids[9:11])
    assert bar.counts["all"] == 3


def test_header_clicks_sort_by_time_and_confidence(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    with PolicyDecisionLog(ui_db) as log:
        log.log_decisions([make_decision(n, confidence=c)
                           for n, c in enumerate([0.9, 0.3, 0.7, 0.5])])
    window = make_window(ui_db)
    header = window.table.horizontalHeader()

    def click(column: Col) -> None:
        x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(x, header.height() // 2))
        wait_idle(qtbot, window)

    def confidences() -> list[float | None]:
        return [window.model.summary(r).confidence  # type: ignore[union-attr]
                for r in range(window.model.rowCount())]

    click(Col.CONFIDENCE)
    assert window.model.filter.sort == "least_confident"
    assert confidences() == [0.3, 0.5, 0.7, 0.9]
    assert header.sortIndicatorSection() == Col.CONFIDENCE
    click(Col.CONFIDENCE)
    assert confidences() == [0.9, 0.7, 0.5, 0.3]
    click(Col.TIME)
    assert window.model.filter.sort == "newest"
    click(Col.TIME)
    assert window.model.filter.sort == "oldest"
    assert confidences() == [0.9, 0.3, 0.7, 0.5]
    click(Col.ACTOR)  # not sortable: the indicator stays on time
    assert header.sortIndicatorSection() == Col.TIME
    assert window.model.filter.sort == "oldest"
    window.sort_actions["least_confident"].trigger()
    wait_idle(qtbot, window)
    assert confidences() == [0.3, 0.5, 0.7, 0.9]


def test_filter_bar_alone(qtbot: QtBot) -> None:
    bar = FilterBar()
    qtbot.addWidget(bar)
    with qtbot.waitSignal(bar.filter_changed) as blocker:
        bar.set_view("incorrect")
    assert blocker.args[0].view == "incorrect"
    bar.set_counts({"unreviewed": 1204})
    assert bar.view_buttons["unreviewed"].text() == "Unreviewed (1,204)"
    assert bar.view_buttons["all"].text() == "All"
    assert view_text("all", 0) == "All (0)"
    bar.set_facets({"model_name": ["m1"], "prompt_version": [], "run_id": []})
    bar.facet_combos["model_name"].setCurrentIndex(1)
    bar.set_facets({"model_name": ["m2"], "prompt_version": [], "run_id": []})
    assert bar.facet_combos["model_name"].currentData() == "m1"  # kept while chosen


def test_a_run_chosen_after_a_chart_bar_is_shown_even_a_replay(qtbot: QtBot) -> None:
    """A bar click leaves replay answers out (as the chart counts); choosing a run in the
    menu afterwards shows that run, a replay run's answers too, not an empty table."""
    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.set_facets({"model_name": [], "prompt_version": [], "run_id": ["run_prod", "run_replay"]})
    bar.show_bar(decision="deny")
    assert bar.filter.exclude_replays and bar.filter.decision == "deny"
    assert bar.decision_combo.currentData() == "deny"  # the menu shows what is filtered
    with qtbot.waitSignal(bar.filter_changed) as blocker:
        combo = bar.facet_combos["run_id"]
        combo.setCurrentIndex(combo.findData("run_replay"))
    chosen = blocker.args[0]
    assert (chosen.run_id, chosen.exclude_replays, chosen.decision) == ("run_replay", False,
                                                                       "deny")
    bar.search.setText("alice")
    bar.show_bar(review_action="correct_decision")  # a bar again: what the chart counts
    flt = bar.filter
    assert (flt.review_action, flt.decision, flt.run_id, flt.text, flt.exclude_replays) == (
        "correct_decision", None, None, "", True)
    assert bar.facet_combos["run_id"].currentIndex() == 0 and bar.search.text() == ""
