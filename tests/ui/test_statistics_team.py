"""The Statistics tab's team figures: κ and α of a hand-computed table, the adjudication
queue, the reviewer list (alphabetical, plain text), and refresh() off the GUI thread.

Every test opens its log through ``store_location``: they run on PostgreSQL too.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QTableWidget
from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.assignments import Assignments
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.store.team_statistics import collect_statistics_with_team
from policy_desktop.ui.statistics_view import StatisticsView
from policy_desktop.ui.tasks import DbExecutor

HOSTILE = "<b>Mallory</b><img src=x>"
A, D = "allow", "deny"
# The model says allow, deny, require_mfa, require_attestation. Units (ann, bob):
# (A,A) (D,D) (D,A) (A,A): p_o = 3/4; ann A2 D2, bob A3 D1: p_e = (2·3 + 2·1)/16 = 1/2,
# κ = (3/4 - 1/2)/(1/2) = 0.50. α: o_AA = 4, o_DD = 2, o_AD = o_DA = 1; n_A = 5, n_D = 3,
# n = 8: α = 1 - 7·2/(5·3 + 3·5) = 1 - 14/30 = 0.53. One disagreement: (D,A).
ANSWERS = {"ann": [A, D, D, A], "bob": [A, D, A, A]}
KINDS = ("allow", "deny", "require_mfa", "require_attestation")


@pytest.fixture
def view(qtbot: QtBot) -> StatisticsView:
    widget = StatisticsView()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    return widget


def _team(location: str) -> list[str]:
    with PolicyDecisionLog(location) as log:
        decisions = [PolicyDecision(situation={"actor": f"u{i}"}, model_name="gemma",
                                    model_version="Q4", prompt_version="v2", decision=kind,
                                    reasoning="r", timestamp=f"2026-02-02T08:0{i}:00+00:00")
                     for i, kind in enumerate(KINDS)]
        log.log_decisions(decisions)
        ids = [d.decision_id or "" for d in decisions]
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        for name in ("ann", "bob"):
            for claim in queue.claim(name, 10):
                queue.submit(claim, ANSWERS[name][ids.index(claim.decision_id)])
        ReviewQueue(log).claim(HOSTILE, 1)  # joined; holds a claim, reviewed nothing
    return ids


def _cells(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def _table(view: StatisticsView, name: str) -> QTableWidget:
    tables = view.findChildren(QTableWidget, name)  # the one shown last (older ones are
    assert tables, name                              # deleted later, by the event loop)
    return tables[-1]


def test_the_tab_shows_kappa_and_alpha_of_a_hand_computed_table(
        view: StatisticsView, store_location: str) -> None:
    _team(store_location)
    with PolicyDecisionLog(store_location, create=False) as log:
        view.set_data(collect_statistics_with_team(log))
    assert view.team_section.isVisible()
    assert view.kappa.value.text() == "0.50"
    assert view.alpha.value.text() == "0.53"
    assert view.observed.value.text() == "75%"
    assert view.awaiting.value.text() == "1"
    assert "4 decisions answered twice" in view.agreement.subtitle.text()
    by_type = _cells(_table(view, "agreementByType"))
    # One decision of each kind: a single unit has κ/α only when it disagrees.
    assert [row[0] for row in by_type] == ["Allow", "Deny", "Attestation", "MFA"]
    assert by_type[0][1:] == ["1", "100%", "— (one answer)", "— (one answer)"]
    assert by_type[3][1:3] == ["1", "0%"]
    [month] = _cells(_table(view, "agreementByMonth"))
    assert month[1:] == ["4", "75%", "0.50", "0.53"]
    assert _cells(_table(view, "agreementByPair")) == [["ann · bob", "4", "75%", "0.50",
                                                        "0.53"]]


def test_the_reviewer_list_is_alphabetical_plain_text_and_unranked(
        view: StatisticsView, store_location: str) -> None:
    ids = _team(store_location)
    with PolicyDecisionLog(store_location, create=False) as log:
        log.log_decisions([PolicyDecision(situation={"actor": "z"}, model_name="gemma",
                                          model_version="Q4", prompt_version="v2",
                                          decision="deny", reasoning="r")])
        Assignments(log).assign("zed", DecisionFilter(), by="ann")
        view.set_data(collect_statistics_with_team(log))
    rows = _cells(_table(view, "reviewersTable"))
    names = [row[0] for row in rows]
    assert names == sorted(names, key=str.casefold) and names[0] == HOSTILE
    assert set(names) == {HOSTILE, "ann", "bob", "zed"}
    by_name = {row[0]: row for row in rows}
    # ann: 4 reviews, corrected require_mfa and require_attestation (2), 4 answered blind
    # with bob, 3 of them the same.
    assert by_name["ann"][1:5] == ["4", "2", "4", "75%"]
    assert by_name["bob"][1:5] == ["4", "2", "4", "75%"]
    assert by_name[HOSTILE][1:5] == ["0", "0", "0", "—"]
    assert by_name["zed"][6] == "1"  # the new decision, in zed's queue
    header = _table(view, "reviewersTable")
    headers = [header.horizontalHeaderItem(c).text() for c in range(header.columnCount())]
    assert not any("rank" in h.lower() or h == "#" for h in headers)
    # Untrusted names never become rich text anywhere on the tab.
    for label in view.findChildren(QLabel):
        assert HOSTILE not in label.text() or label.textFormat().name == "PlainText"
    assert ids


def test_a_log_without_a_team_shows_no_team_section(
        view: StatisticsView, store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        log.log_decisions([PolicyDecision(situation={}, model_name="m", model_version="v",
                                          prompt_version="p", decision="allow")])
        view.set_data(collect_statistics_with_team(log))
        assert "review_claims" not in log.database.get_tables()  # reading wrote nothing
    assert not view.team_section.isVisible()
    assert view.total.value.text() == "1"


def test_refresh_computes_on_the_database_thread_and_follows_changes(
        qtbot: QtBot, view: StatisticsView, store_location: str, executor: DbExecutor) -> None:
    ids = _team(store_location)
    executor.open(store_location, create=False)
    view.bind(executor)
    with qtbot.waitSignal(view.refreshed, timeout=20_000):
        view.refresh()
    assert view.kappa.value.text() == "0.50" and view.awaiting.value.text() == "1"
    # The lead settles the disagreement, as the adjudication would.
    with PolicyDecisionLog(store_location, create=False) as log:
        from policy_desktop.store.team import ReviewTeam

        ReviewTeam(log).adjudicate(ids[2], "lead", "deny")
    # Calls while a computation runs fold into one more.
    with qtbot.waitSignal(view.refreshed, timeout=20_000):
        view.refresh()
        view.refresh()
        view.refresh()
    qtbot.waitUntil(lambda: view.awaiting.value.text() == "0", timeout=20_000)
    qtbot.waitUntil(lambda: executor.idle, timeout=20_000)
    # Hidden: only marked stale; shown again: recomputed.
    view.hide()
    with PolicyDecisionLog(store_location, create=False) as log:
        log.mark_reviewed(log.log_decision(PolicyDecision(
            situation={}, model_name="m", model_version="v", prompt_version="p",
            decision="allow")), None, None, "carol")
    view.refresh()
    assert view.stale and executor.idle
    with qtbot.waitSignal(view.refreshed, timeout=20_000):
        view.show()
    assert not view.stale
    qtbot.waitUntil(lambda: "carol" in [row[0] for row in _cells(
        _table(view, "reviewersTable"))], timeout=5_000)


def test_a_failed_refresh_is_shown_on_the_tab(
        qtbot: QtBot, view: StatisticsView, executor: DbExecutor) -> None:
    view.bind(executor)  # no database open: the job fails
    with qtbot.waitSignal(view.refresh_failed, timeout=20_000) as failed:
        view.refresh()
    assert failed.args[0].startswith("Cannot compute statistics:")
    assert view.problem.isVisible() and "no database is open" in view.problem.text()
