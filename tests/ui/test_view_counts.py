"""The window's counts: read on the database thread, requests coalesced, stale ones dropped."""

from __future__ import annotations

from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill

from policy_desktop.store.queries import DecisionFilter
from policy_desktop.ui.tasks import DbExecutor
from policy_desktop.ui.view_counts import Counts, ViewCounts


def test_requests_in_flight_coalesce_into_one_more_count(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 12)
    executor.open(str(ui_db))
    counts = ViewCounts(executor, lambda: DecisionFilter(view="all"))
    seen: list[Counts] = []
    counts.changed.connect(seen.append)
    for _ in range(5):
        counts.refresh()
    qtbot.waitUntil(lambda: executor.idle and len(seen) >= 1, timeout=WAIT_MS)
    qtbot.wait(50)
    assert len(seen) == 2  # five requests: two counts (the first, then one more), not five
    assert seen[-1].views["all"] == 12 and seen[-1].total == 12
    assert counts.current is seen[-1]


def test_a_count_for_a_filter_changed_meanwhile_is_read_again(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 6)
    executor.open(str(ui_db))
    current = [DecisionFilter(view="all", text="actor000")]
    counts = ViewCounts(executor, lambda: current[0])
    seen: list[Counts] = []
    counts.changed.connect(seen.append)
    counts.refresh()
    current[0] = DecisionFilter(view="all")  # before the first count arrives
    qtbot.waitUntil(lambda: executor.idle and bool(seen), timeout=WAIT_MS)
    assert [c.views["all"] for c in seen] == [6]  # the stale count (1) was never shown


def test_facets_are_read_on_request(qtbot: QtBot, executor: DbExecutor,
                                          ui_db: str) -> None:
    fill(ui_db, 3)
    executor.open(str(ui_db))
    counts = ViewCounts(executor, lambda: DecisionFilter(view="all"))
    with qtbot.waitSignal(counts.facets_changed, timeout=WAIT_MS) as facets:
        counts.refresh_facets()
    assert facets.args[0]["model_name"] == ["gemma-3-270m"]
