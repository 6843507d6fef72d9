"""The statistics tab with real data, with nothing logged, and with untrusted text."""

from __future__ import annotations

import pytest
from PySide6.QtCharts import QBarCategoryAxis, QChartView, QLineSeries, QStackedBarSeries
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QTableWidget
from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.analytics import RunAccuracy, StatisticsData, collect_statistics
from policy_desktop.ui.charts import chart_label, nice_count_range
from policy_desktop.ui.statistics_view import StatisticsView

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"


@pytest.fixture
def view(qtbot: QtBot) -> StatisticsView:
    widget = StatisticsView()
    qtbot.addWidget(widget)
    widget.resize(1100, 900)
    widget.show()
    return widget


def _decision(decision: str, expected: str | None, run_id: str | None,
              prompt: str = "v2") -> PolicyDecision:
    return PolicyDecision(
        situation={"actor": "alice"}, model_name="gemma", model_version="Q4", prompt_version=prompt,
        decision=decision, reasoning="r", expected_decision=expected,
        decision_correct=None if expected is None else decision == expected, run_id=run_id)


def _fill(log: PolicyDecisionLog) -> None:
    first = log.start_run(prompt_version="v1")
    log.log_decisions([_decision("allow", "allow", first), _decision("allow", "deny", first),
                       _decision("unparseable", "require_mfa", first)])
    second = log.start_run(prompt_version=HOSTILE)
    batch = [_decision("deny", "deny", second, HOSTILE), _decision("require_mfa", "require_mfa",
                                                                   second, HOSTILE)]
    log.log_decisions(batch)
    log.mark_reviewed(batch[0].decision_id or "")
    log.mark_reviewed(batch[1].decision_id or "", "require_attestation", "Needs attestation.")


def _table(view: StatisticsView, name: str) -> QTableWidget:
    table = view.findChild(QTableWidget, name)
    assert table is not None, name
    return table


def _cell_texts(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def test_renders_real_data(view: StatisticsView, log: PolicyDecisionLog) -> None:
    _fill(log)
    view.set_data(collect_statistics(log))
    assert view.total.value.text() == "5"
    assert view.reviewed.value.text() == "2"
    assert view.unreviewed.value.text() == "3"
    assert view.accuracy.value.text() == "60%"
    assert view.accuracy.detail.text() == "3 right of 5 with an expected answer"
    assert view.corrections.value.text() == "1"
    assert view.readiness_label.text() == "1 of 50 corrections"
    assert (view.readiness_bar.maximum(), view.readiness_bar.value()) == (50, 1)
    assert view.readiness_detail.text().startswith("49 more corrections needed")

    for card in (view.distribution, view.review_types, view.accuracy_runs, view.confusion,
                 view.flips, view.runs):
        assert not card.is_empty(), card.title.text()
    distribution = view.distribution.findChild(QChartView).chart()
    (series,) = distribution.series()
    assert isinstance(series, QStackedBarSeries)
    assert [sum(s.at(i) for i in range(s.count())) for s in series.barSets()] == [2, 1, 0, 1, 1]
    review_types = view.review_types.findChild(QChartView).chart().series()[0]
    assert [sum(s.at(i) for i in range(s.count())) for s in review_types.barSets()] == [
        1, 0, 0, 1]

    accuracy = view.accuracy_runs.findChild(QChartView).chart()
    line = next(s for s in accuracy.series() if isinstance(s, QLineSeries))
    assert [(p.x(), p.y()) for p in line.points()] == [(0, 33), (1, 100)]
    x_axis = next(a for a in accuracy.axes() if isinstance(a, QBarCategoryAxis))
    assert [label.split("<br>")[0] for label in x_axis.categories()] == [
        '<div align="center">#1', '<div align="center">#2']
    # each point names the prompt version it measured (what a reviewer compares),
    # escaped and shortened like every chart label
    first, second = x_axis.categories()
    assert first.split("<br>")[-1] == "v1</div>"
    assert "<img" not in second and "&lt;img" in second

    confusion = _cell_texts(_table(view, "confusionMatrix"))
    assert confusion == [["1", "·", "·", "·", "·"],
                         ["1", "1", "·", "·", "·"],
                         ["·", "·", "·", "·", "·"],
                         ["·", "·", "·", "1", "1"]]
    summary = view.findChild(QLabel, "confusionSummary").text()
    assert "⚠ 1 unsafe allow:" in summary
    flips = _table(view, "flipsMatrix")
    assert flips.verticalHeaderItem(0).text() == "◆ MFA"
    assert _cell_texts(flips) == [["·", "·", "1", "·"]]

    runs = _table(view, "runsTable")
    assert runs.rowCount() == 2
    assert runs.item(0, 0).text() == "#2"  # newest first
    assert runs.item(0, 3).text() == HOSTILE  # untrusted text only in plain-text items
    assert runs.item(1, 6).text() == "33%"


def test_renders_empty_data_intentionally(view: StatisticsView, log: PolicyDecisionLog) -> None:
    view.set_data(collect_statistics(log))
    assert view.total.value.text() == "0"
    assert view.total.detail.text() == "Nothing logged yet"
    assert view.accuracy.value.text() == "—"
    assert view.readiness_label.text() == "0 of 50 corrections"
    assert view.readiness_bar.value() == 0
    messages = {card.title.text(): card.empty.text() for card in (
        view.distribution, view.review_types, view.accuracy_runs, view.confusion, view.flips,
        view.runs)}
    assert messages == {
        "Decision distribution": "No decisions yet",
        "Reviews by change type": "No reviews yet",
        "Accuracy per run": "No runs yet: run the scenario suite to see accuracy over time",
        "Expected vs model": "No decisions with an expected outcome yet",
        "Decision corrections": "No decision corrections yet",
        "Runs": "No runs yet",
    }
    assert not view.findChildren(QChartView)


def test_new_data_replaces_the_old(qtbot: QtBot, view: StatisticsView,
                                   log: PolicyDecisionLog) -> None:
    _fill(log)
    view.set_data(collect_statistics(log))
    view.set_data(collect_statistics(log))
    qtbot.wait(1)  # let deleteLater run
    assert len(view.distribution.findChildren(QChartView)) == 1


def test_training_ready_and_foreign_values(view: StatisticsView) -> None:
    stats = {"total": 60, "reviewed": 60, "unreviewed": 0, "corrections": 55, "accepted": 5,
             "correct": 0, "evaluated": 0, "accuracy": None,
             "decision_distribution": {"allow": 50, HOSTILE: 10}, "training_gate": 50}
    data = StatisticsData(
        statistics=stats,
        accuracy_by_run=[RunAccuracy("run_x", "not a time", None, None, 0, 0, None)],
        confusion={(HOSTILE, "allow"): 2},
        corrections_by_type={"accept": 5, "correct_decision": 55, "correct_reasoning": 0,
                             "correct_both": 0},
    )
    view.set_data(data)
    assert view.readiness_label.text() == "55 of 50 corrections"
    assert view.readiness_bar.value() == 50
    assert view.readiness_detail.text().startswith("Ready")
    axis = next(a for a in view.distribution.findChild(QChartView).chart().axes()
                if isinstance(a, QBarCategoryAxis))
    assert axis.categories()[-1] == "Other"  # unknown values never reach the chart as markup
    assert view.accuracy_runs.empty.text() == (
        "No run has decisions with an expected outcome yet")
    confusion = _table(view, "confusionMatrix")
    assert confusion.verticalHeaderItem(confusion.rowCount() - 1).text() == "Other"
    assert view.flips.is_empty()


def test_chart_helpers() -> None:
    assert chart_label("a<b>") == "a&lt;b&gt;"
    assert chart_label(("#1", "<i>")) == '<div align="center">#1<br>&lt;i&gt;</div>'
    assert nice_count_range(0) == (1, 2)
    assert nice_count_range(4) == (5, 6)
    assert nice_count_range(74) == (100, 6)
    assert nice_count_range(57) == (80, 5)
    top, ticks = nice_count_range(1234)
    assert top >= 1234 * 1.12 and (top / (ticks - 1)).is_integer()


def test_theme_change_redraws_the_charts(qtbot: QtBot, view: StatisticsView,
                                         log: PolicyDecisionLog) -> None:
    _fill(log)
    view.set_data(collect_statistics(log))
    before = view.distribution.findChild(QChartView)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: view.distribution.findChild(QChartView) is not before,
                        timeout=1000)
        chart = view.distribution.findChild(QChartView).chart()
        assert {axis.labelsBrush().color().name() for axis in chart.axes()} == {"#eeeeee"}
    finally:
        app.setPalette(original)
