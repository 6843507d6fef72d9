"""A click on a bar of a statistics chart names the decisions it counts (issue 12:
"click a bar of a chart → the table filtered to those decisions")."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from policy_desktop.ui.charts import Bar, bar_chart

BARS = [Bar("Allow", 5, QColor("green"), "allow"), Bar("Deny", 3, QColor("red"), "deny"),
        Bar("MFA", 0, QColor("blue"), "require_mfa"), Bar("Other", 2, QColor("grey"))]


def click_bar(qtbot: QtBot, view: object, index: int, value: float) -> None:
    from PySide6.QtCharts import QChartView

    assert isinstance(view, QChartView)
    chart = view.chart()
    series = chart.series()[0]
    scene_point = chart.mapToPosition(QPointF(index, value / 2), series)
    point = view.mapFromScene(chart.mapToScene(scene_point))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_clicking_a_bar_reports_its_key(qtbot: QtBot) -> None:
    clicked: list[str] = []
    view = bar_chart(BARS, value_title="Decisions", on_click=clicked.append)
    qtbot.addWidget(view)
    view.resize(640, 360)
    view.show()
    qtbot.waitExposed(view)
    click_bar(qtbot, view, 1, 3)
    click_bar(qtbot, view, 0, 5)
    click_bar(qtbot, view, 3, 2)  # no key: nothing to list
    assert clicked == ["deny", "allow"]
    assert view.cursor().shape() == Qt.CursorShape.PointingHandCursor


def test_a_chart_without_a_handler_is_not_clickable(qtbot: QtBot) -> None:
    view = bar_chart(BARS)
    qtbot.addWidget(view)
    view.resize(640, 360)
    view.show()
    qtbot.waitExposed(view)
    click_bar(qtbot, view, 1, 3)  # nothing connected: nothing happens, no warning
    assert view.cursor().shape() != Qt.CursorShape.PointingHandCursor
