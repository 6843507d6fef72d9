"""The Statistics tab with a production run and a replay run: the replay is marked, the
figures leave its answers out, and a bar click names the decisions the table should show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCharts import QBarCategoryAxis, QChartView, QScatterSeries
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.analytics import collect_statistics
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.replay import ReplaySelection, ReplayStore
from policy_desktop.ui.statistics_view import StatisticsView
from policy_desktop.vocabulary import DECISIONS, UNPARSEABLE


def _decision(decision: str, expected: str | None, run_id: str | None, model: str = "gemma",
              prompt: str = "v2_fewshot", tags: list[str] | None = None) -> PolicyDecision:
    return PolicyDecision(
        situation={"actor": "alice", "action": "read", "target": "docs/a.md"}, model_name=model,
        model_version="Q4", prompt_version=prompt, decision=decision, reasoning="r",
        expected_decision=expected, run_id=run_id, tags=tags or [],
        decision_correct=None if expected is None else decision == expected)


def fill(log: PolicyDecisionLog) -> tuple[list[str], str]:
    """Production: 6 decisions (4 right of 6), two corrected. A candidate replays them all
    and answers deny every time (2 right of 6); one replay answer is corrected."""
    run = log.start_run(model_name="gemma", prompt_version="v2_fewshot")
    expected = ["allow", "allow", "deny", "deny", "require_mfa", "require_attestation"]
    answered = ["allow", "allow", "deny", "deny", "allow", "deny"]
    originals = [_decision(d, e, run) for d, e in zip(answered, expected, strict=True)]
    log.log_decisions(originals)
    ids = [d.decision_id or "" for d in originals]
    log.mark_reviewed(ids[4], review_decision="require_mfa")
    log.mark_reviewed(ids[5], review_decision="require_attestation")
    log.mark_reviewed(ids[0])
    store = ReplayStore(log)
    replay = store.create(ids, ReplaySelection(), model_name="candidate",
                          prompt_version="v3_candidate")
    answers = [store.record(replay, original, _decision("deny", e, None, "candidate",
                                                        "v3_candidate", ["replay"]))
               for original, e in zip(ids, expected, strict=True)]
    log.mark_reviewed(answers[0], review_decision="allow")
    return ids, replay


@pytest.fixture
def view(qtbot: QtBot) -> StatisticsView:
    widget = StatisticsView()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _chart(view: StatisticsView, name: str) -> QChartView:
    chart = view.findChild(QChartView, name)
    assert chart is not None, name
    return chart


def click_bar(qtbot: QtBot, chart_view: QChartView, index: int, value: float) -> None:
    chart_view.ensureVisible(0, 0, 1, 1)
    chart = chart_view.chart()
    series = chart.series()[0]
    scene_point = chart.mapToPosition(QPointF(index, value / 2), series)
    point = chart_view.mapFromScene(chart.mapToScene(scene_point))
    qtbot.mouseClick(chart_view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_the_replay_run_is_marked_and_left_out(view: StatisticsView,
                                               log: PolicyDecisionLog) -> None:
    fill(log)
    view.set_data(collect_statistics(log))
    # The figures: the 6 production decisions only (12 are logged).
    assert log.get_statistics()["total"] == 12
    assert view.total.value.text() == "6"
    assert view.reviewed.value.text() == "3"
    assert view.accuracy.value.text() == "67%"
    assert view.corrections.value.text() == "2"
    assert view.replays.isVisible()
    assert view.replays.text().startswith("↻ 6 replay answers (1 replay run) are left out")
    # The training gate counts every correction, as the export does.
    assert view.readiness_label.text() == "3 of 50 corrections"
    assert "1 of these are corrections of replay answers" in view.readiness_detail.text()
    # The chart: the replay run is an orange square of its own series, labelled (replay).
    chart = _chart(view, "accuracyChart").chart()
    scatters = {s.name(): s for s in chart.series() if isinstance(s, QScatterSeries)}
    assert set(scatters) == {"Production runs", "Replay runs"}
    assert [p.y() for p in scatters["Replay runs"].points()] == [33.0]
    assert [p.y() for p in scatters["Production runs"].points()] == [67.0]
    assert chart.legend().isVisible()
    axis = next(a for a in chart.axes() if isinstance(a, QBarCategoryAxis))
    assert ["(replay)" in label for label in axis.categories()] == [False, True]
    runs = view.findChild(QTableWidget, "runsTable")
    assert runs is not None
    assert [runs.item(r, 0).text() for r in range(runs.rowCount())] == ["#2 (replay)", "#1"]
    assert view.runs.subtitle.text() == "Newest first · replay runs marked (replay)"


def test_without_replays_nothing_is_marked(view: StatisticsView,
                                           log: PolicyDecisionLog) -> None:
    run = log.start_run()
    log.log_decisions([_decision("allow", "allow", run), _decision("deny", "allow", run)])
    view.set_data(collect_statistics(log))
    assert not view.replays.isVisible()
    chart = _chart(view, "accuracyChart").chart()
    assert not chart.legend().isVisible()
    assert len([s for s in chart.series() if isinstance(s, QScatterSeries)]) == 1


def test_a_bar_click_names_the_decisions_it_counts(view: StatisticsView, log: PolicyDecisionLog,
                                                   qtbot: QtBot) -> None:
    fill(log)
    data = collect_statistics(log)
    view.set_data(data)
    distribution = data.statistics["decision_distribution"]
    assert distribution == {"allow": 3, "deny": 3}  # the 6 replayed denies are not in it
    chart = _chart(view, "distributionChart")
    with qtbot.waitSignal(view.decision_clicked, timeout=2000) as signal:
        click_bar(qtbot, chart, (*DECISIONS, UNPARSEABLE).index("deny"), 3)
    assert signal.args == ["deny"]
    # The table the window opens for it lists exactly the bar's decisions.
    queries = DecisionQueries(log)
    assert queries.count(DecisionFilter(view="all", decision="deny", exclude_replays=True)) == 3
    types = _chart(view, "reviewTypesChart")
    with qtbot.waitSignal(view.review_type_clicked, timeout=2000) as signal:
        click_bar(qtbot, types, 1, data.corrections_by_type["correct_decision"])
    assert signal.args == ["correct_decision"]
    assert queries.count(DecisionFilter(view="all", review_action="correct_decision",
                                        exclude_replays=True)) == 2


def test_screenshot(view: StatisticsView, log: PolicyDecisionLog, qtbot: QtBot,
                    tmp_path: Path) -> None:
    """The tab at 1280x800 scrolled to the chart of runs (docs/screenshots/statistics-replay.png
    is made this way with POLICY_DESKTOP_SCREENSHOTS=docs/screenshots)."""
    fill(log)
    run = log.start_run(model_name="gemma", prompt_version="v3_tuned")
    log.log_decisions([_decision("allow", "allow", run, prompt="v3_tuned"),
                       _decision("deny", "deny", run, prompt="v3_tuned"),
                       _decision("allow", "deny", run, prompt="v3_tuned")])
    view.set_data(collect_statistics(log))
    qtbot.wait(50)
    top = view.accuracy_runs.mapTo(view.scroll_area.widget(), view.accuracy_runs.rect().topLeft())
    view.scroll_area.verticalScrollBar().setValue(top.y() - 150)
    qtbot.wait(50)
    assert view.accuracy_runs.visibleRegion().boundingRect().height() > 300
    image = view.grab()
    assert (image.width(), image.height()) == (1280, 800)
    folder = Path(os.environ.get("POLICY_DESKTOP_SCREENSHOTS", tmp_path))
    assert image.save(str(folder / "statistics-replay.png"))
