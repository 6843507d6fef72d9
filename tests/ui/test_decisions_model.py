"""The lazy decisions table model: Qt's model contract, paging, the row cap, sorting, merging."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt
from pytestqt.qtbot import QtBot
from window_helpers import HOSTILE, WAIT_MS, fill, make_decision

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import SORTS, DecisionFilter, DecisionQueries
from policy_desktop.ui.decisions_model import (
    LISTED_BY,
    Col,
    DecisionsModel,
    decision_cell,
    format_time,
    listed_after,
    plain_tooltip,
    review_state,
    sort_indicator,
)
from policy_desktop.ui.tasks import DbExecutor


def open_model(qtbot: QtBot, executor: DbExecutor, path: str, flt: DecisionFilter | None = None,
               **options: int) -> DecisionsModel:
    """A model over ``path`` with its first page loaded."""
    executor.open(str(path))
    model = DecisionsModel(executor, **options)
    with qtbot.waitSignal(model.reloaded, timeout=WAIT_MS):
        model.set_filter(flt or DecisionFilter(view="all"))
    return model


def fetch(qtbot: QtBot, model: DecisionsModel) -> None:
    """Fetch one more page and wait until its rows are inserted."""
    assert model.canFetchMore()
    with qtbot.waitSignal(model.rowsInserted, timeout=WAIT_MS):
        model.fetchMore()


def ids(model: DecisionsModel) -> list[str | None]:
    return [model.decision_id(row) for row in range(model.rowCount())]


def test_model_passes_the_qt_model_tester_while_paging_and_refreshing(
        qtbot: QtBot, qtmodeltester, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 130)
    model = open_model(qtbot, executor, ui_db, page_size=50)
    qtmodeltester.check(model)  # the tester itself asks for the next page
    qtbot.waitUntil(lambda: model.rowCount() >= 100 and not model.loading, timeout=WAIT_MS)
    with PolicyDecisionLog(ui_db) as other:  # new rows at the top, some reviewed away
        other.log_decisions([make_decision(500 + n, timestamp=f"2026-03-01T10:00:0{n}+00:00")
                             for n in range(3)])
        for decision_id in ids(model)[5:8]:
            assert decision_id is not None
            other.mark_reviewed(decision_id, reviewer="ann")
    with qtbot.waitSignal(model.refreshed, timeout=WAIT_MS):
        model.refresh()
    with qtbot.waitSignal(model.reloaded, timeout=WAIT_MS):
        model.set_filter(DecisionFilter(view="unreviewed", sort="least_confident"))
    qtmodeltester.check(model)


def test_fetch_more_loads_the_next_page_until_the_end(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    all_ids = fill(ui_db, 120)
    model = open_model(qtbot, executor, ui_db, page_size=50)
    assert model.rowCount() == 50
    fetch(qtbot, model)
    assert model.rowCount() == 100
    fetch(qtbot, model)
    assert model.rowCount() == 120
    assert not model.canFetchMore()
    assert ids(model) == list(reversed(all_ids))  # newest first, no gaps, no repeats


def test_the_model_holds_at_most_max_rows(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 180)
    model = open_model(qtbot, executor, ui_db, page_size=50, max_rows=120)
    fetch(qtbot, model)
    fetch(qtbot, model)
    assert model.rowCount() == 120
    assert model.capped
    assert not model.canFetchMore()
    with qtbot.waitSignal(model.refreshed, timeout=WAIT_MS):
        model.refresh()
    assert model.rowCount() == 120


def test_fetch_more_returns_at_once_and_inserts_when_the_page_arrives(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 60)
    model = open_model(qtbot, executor, ui_db, page_size=50)
    model.fetchMore()
    assert model.rowCount() == 50 and model.loading
    assert not model.canFetchMore()  # one page at a time
    qtbot.waitUntil(lambda: model.rowCount() == 60, timeout=WAIT_MS)


def test_sorting_by_confidence_puts_unknown_confidence_last_both_ways(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    """Issue 12 item 7: 300 answers without a confidence must not bury the doubtful ones."""
    fill(ui_db, 30)
    with PolicyDecisionLog(ui_db) as log:
        log.log_decisions([make_decision(100 + n, decision="unparseable", confidence=None,
                                         reasoning=None, decision_correct=False)
                           for n in range(5)])
    model = open_model(qtbot, executor, ui_db)
    with qtbot.waitSignal(model.reloaded, timeout=WAIT_MS):
        model.sort(Col.CONFIDENCE, Qt.SortOrder.AscendingOrder)
    assert model.filter.sort == "least_confident"
    confidences = [model.summary(row).confidence for row in range(model.rowCount())]  # type: ignore[union-attr]
    known = [c for c in confidences if c is not None]
    assert confidences == known + [None] * 5  # the least confident known one first
    assert known == sorted(known)
    with qtbot.waitSignal(model.reloaded, timeout=WAIT_MS):
        model.sort(Col.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    confidences = [model.summary(row).confidence for row in range(model.rowCount())]  # type: ignore[union-attr]
    assert confidences == sorted(known, reverse=True) + [None] * 5
    model.sort(Col.ACTOR, Qt.SortOrder.AscendingOrder)  # not sortable: ignored
    assert model.filter.sort == "most_confident" and not model.loading
    assert sort_indicator("least_confident") == (Col.CONFIDENCE, Qt.SortOrder.AscendingOrder)
    assert sort_indicator("newest") == (Col.TIME, Qt.SortOrder.DescendingOrder)


def test_refresh_merges_changes_and_keeps_persistent_indexes(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    all_ids = fill(ui_db, 20)
    model = open_model(qtbot, executor, ui_db, DecisionFilter(view="unreviewed"))
    kept = QPersistentModelIndex(model.index(model.row_of(all_ids[10]), 0))
    with PolicyDecisionLog(ui_db) as other:
        other.mark_reviewed(all_ids[15], reviewer="ann")
        other.mark_reviewed(all_ids[5], "deny", reviewer="ann")
        other.log_decision(make_decision(300, timestamp="2026-03-01T09:00:00+00:00"))
    with qtbot.waitSignal(model.refreshed, timeout=WAIT_MS):
        model.refresh()
    assert kept.isValid()
    assert model.decision_id(kept.row()) == all_ids[10]
    assert model.rowCount() == 19
    assert all_ids[15] not in ids(model) and all_ids[5] not in ids(model)
    fresh = open_model(qtbot, executor, ui_db, DecisionFilter(view="unreviewed"))
    assert ids(model) == ids(fresh)


def test_refresh_updates_changed_rows_in_place(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    all_ids = fill(ui_db, 5)
    model = open_model(qtbot, executor, ui_db)
    row = model.row_of(all_ids[2])
    with PolicyDecisionLog(ui_db) as other:
        other.mark_reviewed(all_ids[2], "deny", "Only maintainers may read this.", "ann")
    with qtbot.waitSignal(model.dataChanged, timeout=WAIT_MS):
        model.refresh()
    assert model.row_of(all_ids[2]) == row
    assert model.data(model.index(row, Col.REVIEW)) == "corrected → Deny"
    assert model.data(model.index(row, Col.REVIEWER)) == "ann"
    assert model.data(model.index(row, Col.REVIEW), DecisionsModel.StateRole) == "corrected"


def test_cells_show_readable_text_and_hostile_content_literally(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    with PolicyDecisionLog(ui_db) as log:
        log.log_decision(make_decision(1, situation={"actor": HOSTILE, "action": "read",
                                                     "target": "<b>bold</b>"},
                                       reasoning=HOSTILE, decision="deny",
                                       decision_correct=False, reasoning_coverage=0.5))
    model = open_model(qtbot, executor, ui_db)

    def cell(column: Col, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        return model.data(model.index(0, column), role)

    assert cell(Col.ACTOR) == HOSTILE
    assert cell(Col.TARGET) == "<b>bold</b>"
    assert cell(Col.DECISION) == "✕ Deny"
    assert cell(Col.EXPECTED) == "✓ Allow"
    assert cell(Col.CORRECT) == "no"
    assert cell(Col.COVERAGE) == "50%"
    assert cell(Col.REVIEW) == "unreviewed"
    assert cell(Col.ACTOR, Qt.ItemDataRole.ToolTipRole) == plain_tooltip(HOSTILE)
    assert "&lt;img" in str(cell(Col.ACTOR, Qt.ItemDataRole.ToolTipRole))
    assert model.headerData(Col.CONFIDENCE, Qt.Orientation.Horizontal) == "Confidence"


def test_review_state_and_time_formats() -> None:
    summary_fields = make_decision(1)
    assert summary_fields.reviewed is False
    today = date(2026, 2, 2)
    short, full = format_time("2026-02-02T08:05:23+00:00", today)
    assert ":" in short and full.startswith("2026-02-0")
    assert format_time("not a time", today) == ("not a time", "not a time")
    assert format_time("2024-06-01T12:00:00+00:00", today)[0].endswith("2024")
    assert decision_cell(None) == "—"
    assert decision_cell("require_mfa") == "◆ MFA"


@pytest.mark.parametrize(("reviewed", "action", "state"), [
    (False, None, "unreviewed"), (True, "accept", "accepted"),
    (True, "correct_reasoning", "corrected"), (True, "correct_both", "corrected"),
])
def test_review_state(reviewed: bool, action: str | None, state: str, qtbot: QtBot,
                      executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 1)
    model = open_model(qtbot, executor, ui_db)
    summary = model.summary(0)
    assert summary is not None
    assert review_state(replace(summary, reviewed=reviewed, review_action=action)) == state


def test_a_refresh_deep_in_the_list_rereads_only_the_top(
        qtbot: QtBot, executor: DbExecutor, ui_db: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import policy_desktop.ui.decisions_model as module

    monkeypatch.setattr(module, "REFRESH_ROWS", 100)
    all_ids = list(reversed(fill(ui_db, 300)))  # newest first, as shown
    model = open_model(qtbot, executor, ui_db, DecisionFilter(view="unreviewed"),
                       page_size=100)
    fetch(qtbot, model)
    fetch(qtbot, model)
    assert ids(model) == all_ids
    with PolicyDecisionLog(ui_db) as other:
        new = [make_decision(900 + n, timestamp=f"2026-03-01T12:00:0{n}+00:00") for n in range(3)]
        other.log_decisions(new)
        other.mark_reviewed(all_ids[10], reviewer="ann")   # in the part read again
        other.mark_reviewed(all_ids[250], reviewer="ann")  # deep down: kept as it was
    with qtbot.waitSignal(model.refreshed, timeout=WAIT_MS):
        model.refresh()
    shown = ids(model)
    assert len(shown) == len(set(shown)) == 302
    assert shown[:3] == [d.decision_id for d in reversed(new)]
    assert all_ids[10] not in shown
    assert all_ids[250] in shown  # until the view is reloaded
    assert shown[3:] == [i for i in all_ids if i != all_ids[10]]
    model.fetchMore()  # the old cursor still marks the end of what is held
    qtbot.waitUntil(lambda: not model.loading, timeout=WAIT_MS)
    assert ids(model) == shown and not model.canFetchMore()


@pytest.mark.parametrize("sort", SORTS)
def test_the_merge_order_is_the_stores_order(sort: str, ui_db: str) -> None:
    """``listed_after`` (the refresh merge) lists rows exactly as the SQL does, for every
    sort: ties on the value broken by id, unknown confidences last both ways."""
    assert set(LISTED_BY) == set(SORTS)
    fill(ui_db, 12)
    with PolicyDecisionLog(ui_db) as log:
        log.log_decisions([make_decision(200 + n, confidence=0.6) for n in range(4)]  # ties
                          + [make_decision(300 + n, decision="unparseable", confidence=None,
                                           reasoning=None, decision_correct=False)
                             for n in range(4)])
        listed, _cursor = DecisionQueries(log).page(DecisionFilter(view="all", sort=sort),
                                                    limit=100)
    assert len(listed) == 20
    for position, earlier in enumerate(listed):
        for later in listed[position + 1:]:
            assert listed_after(later, earlier, sort)
            assert not listed_after(earlier, later, sort)
