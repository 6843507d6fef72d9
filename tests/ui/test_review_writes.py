"""One change vocabulary (issue 13): the window's writes publish ``changed`` once the last
one is back, and the table, counts and statistics re-read because they subscribe."""

from __future__ import annotations

from typing import Any

from conftest import real_parts
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill, wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.errors import ClaimLostError
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.review_writes import ReviewWrites
from policy_desktop.ui.tasks import DbExecutor


def opened(qtbot: QtBot, executor: DbExecutor, path: str) -> None:
    executor.open(str(path))
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)


def test_a_burst_of_reviews_publishes_one_change_after_the_last(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    ids = fill(ui_db, 6)
    opened(qtbot, executor, ui_db)
    writes = ReviewWrites(executor)
    published: list[Changes] = []
    written: list[tuple[str, str]] = []
    writes.changed.connect(published.append)
    writes.written.connect(lambda i, a: written.append((i, a)))
    for decision_id in ids[:5]:
        writes.review(decision_id, "ann", {"review_decision": None})
    writes.review(ids[0], "ann", {})  # in flight already: the guard refuses a second write
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    assert published == [Changes.reviewed(*ids[:5])]  # five writes, one re-read
    assert [i for i, _ in written] == ids[:5] and {a for _, a in written} == {"accept"}
    with PolicyDecisionLog(ui_db) as log:
        assert sum(len(log.get_review_history(i)) for i in ids) == 5


def test_the_re_read_waits_while_review_keys_wait(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    ids = fill(ui_db, 2)
    opened(qtbot, executor, ui_db)
    keys_waiting = [True]
    writes = ReviewWrites(executor, lambda: keys_waiting[0])
    published: list[Changes] = []
    writes.changed.connect(published.append)
    writes.review(ids[0], "ann", {})
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    assert published == []  # held back: it would sit between the keys and their decision
    keys_waiting[0] = False
    writes.keys_drained()
    assert published == [Changes.reviewed(ids[0])]
    writes.keys_drained()
    assert len(published) == 1  # nothing held any more


def test_a_refused_review_is_a_conflict_with_nothing_to_undo(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    ids = fill(ui_db, 1)
    opened(qtbot, executor, ui_db)
    writes = ReviewWrites(executor)
    conflicts: list[tuple[str, str]] = []
    failures: list[str] = []
    published: list[Changes] = []
    writes.conflicted.connect(lambda i, reason: conflicts.append((i, reason)))
    writes.failed.connect(lambda title, *_: failures.append(title))
    writes.changed.connect(published.append)

    def taken_over(_log: PolicyDecisionLog) -> str:
        raise ClaimLostError(ids[0], "ann", "bob")

    writes.review(ids[0], "ann", {}, write=taken_over, conflicts=(ClaimLostError,))
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    assert conflicts == [(ids[0], f"{ids[0]} is now claimed by bob (your lease ran out); "
                                  "your review was not saved")]
    assert failures == [] and not writes.session.can_undo
    assert published == [Changes.reviewed(ids[0])]  # what is stored is read again

    writes.review(ids[0], "ann", {}, write=taken_over)  # not a conflict here: a failure
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    assert failures == ["Review not saved"]


class Statistics(QWidget):
    """Records what the window gives the statistics tab."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[object] = []

    def set_data(self, data: object) -> None:
        self.data.append(data)


def test_the_statistics_tab_subscribes_to_changes(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 4)
    parts = real_parts()
    stats = Statistics()
    parts.statistics_view = stats
    parts.collect_statistics = lambda log: log.get_statistics()["total"]
    window = make_window(ui_db, parts=parts)
    assert stats.data == []  # not on show: nothing computed
    window.show_statistics()
    qtbot.waitUntil(lambda: stats.data == [4], timeout=WAIT_MS)

    fill_more = fill(ui_db, 2)  # another process logs two more
    qtbot.waitUntil(lambda: stats.data[-1] == 6, timeout=WAIT_MS)  # on show: recomputed

    window.tabs.setCurrentIndex(0)  # back to the review tab
    with PolicyDecisionLog(ui_db) as other:
        other.mark_reviewed(fill_more[0], reviewer="ann")
    qtbot.waitUntil(lambda: window.filter_bar.counts.get("reviewed") == 1, timeout=WAIT_MS)
    wait_idle(qtbot, window)
    computed = len(stats.data)
    window.show_statistics()  # stale since the review: computed again when shown
    qtbot.waitUntil(lambda: len(stats.data) == computed + 1, timeout=WAIT_MS)


def test_the_real_statistics_tab_refreshes_itself_on_each_change(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    from policy_desktop.store.team_statistics import collect_statistics_with_team
    from policy_desktop.ui.statistics_view import StatisticsView

    fill(ui_db, 4)
    parts = real_parts()
    view = StatisticsView()
    parts.statistics_view = view
    parts.collect_statistics = collect_statistics_with_team
    window = make_window(ui_db, parts=parts)
    assert view.data is None and view.stale  # hidden: marked, not computed
    window.show_statistics()
    qtbot.waitUntil(lambda: view.data is not None
                    and view.data.statistics["total"] == 4, timeout=WAIT_MS)
    assert hasattr(view.data, "team")  # the team's figures come with it
    fill(ui_db, 2)  # another process logs two more while the tab is on show
    qtbot.waitUntil(lambda: view.data is not None
                    and view.data.statistics["total"] == 6, timeout=WAIT_MS)
