"""Chart and matrix builders for the statistics view (QtCharts and shaded tables).

QtCharts renders titles, axis labels and legends as HTML, so every text given to
a chart here is either fixed wording or passed through :func:`chart_text`. Text
from the log goes into table items, which are always plain text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCharts import (
    QAbstractBarSeries,
    QAbstractSeries,
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QLegend,
    QLineSeries,
    QScatterSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

ACCENT = QColor("#3a6fb0")
GOOD = QColor("#3b8a4a")
BAD = QColor("#c0453a")
MARKED = QColor("#c27a12")  # the marked points of a line chart (replay runs)


Label = str | tuple[str, ...]
"""A chart label: one line, or several lines shown one under the other."""


def chart_text(text: str) -> str:
    """Escape text for QtCharts, which would otherwise render it as HTML."""
    return html.escape(text, quote=False)


def chart_label(label: Label) -> str:
    """A label as QtCharts markup: every line escaped, lines joined by ``<br>``."""
    lines = (label,) if isinstance(label, str) else label
    if len(lines) == 1:
        return chart_text(lines[0])
    return '<div align="center">' + "<br>".join(chart_text(line) for line in lines) + "</div>"


def _palette() -> QPalette:
    app = QApplication.instance()
    return app.palette() if isinstance(app, QApplication) else QPalette()


def nice_count_range(maximum: int) -> tuple[int, int]:
    """An axis top and tick count for counts up to ``maximum`` with whole-number ticks."""
    if maximum <= 0:
        return 1, 2
    for magnitude in (10 ** k for k in range(0, 12)):
        for step in (1, 2, 5):
            step *= magnitude
            if maximum / step <= 5:
                top = math.ceil(maximum / step) * step
                if top < maximum * 1.12:  # leave headroom for the value labels
                    top += step
                return top, top // step + 1
    return maximum, 2  # pragma: no cover - counts never get this large


def _base_chart() -> QChart:
    palette = _palette()
    chart = QChart()
    chart.setBackgroundVisible(False)
    chart.setPlotAreaBackgroundVisible(False)
    chart.setMargins(QMargins(4, 4, 4, 4))
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.legend().setVisible(False)
    chart.setTitleBrush(QBrush(palette.color(QPalette.ColorRole.WindowText)))
    return chart


def _style_axis(axis: QValueAxis | QBarCategoryAxis) -> None:
    palette = _palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    grid = palette.color(QPalette.ColorRole.Mid)
    axis.setLabelsBrush(QBrush(text))
    axis.setLinePen(QPen(grid))
    axis.setGridLinePen(QPen(grid, 1, Qt.PenStyle.DotLine))
    axis.setTitleBrush(QBrush(palette.color(QPalette.ColorRole.PlaceholderText)))
    # Truncation would show multi-line labels' markup literally; labels here are short.
    axis.setTruncateLabels(False)


def chart_view(chart: QChart, min_height: int = 240) -> QChartView:
    """An antialiased view of ``chart`` that blends into its card."""
    view = QChartView(chart)
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.setMinimumHeight(min_height)
    view.setStyleSheet("background: transparent;")
    view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return view


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value and colour; ``key`` names the decisions it counts (for
    a click-through to the table, e.g. a decision or a review action), None = not clickable."""

    label: Label
    value: int
    color: QColor
    key: str | None = None


def bar_chart(bars: Sequence[Bar], *, value_title: str = "",
              on_click: Callable[[str], None] | None = None) -> QChartView:
    """Vertical bars, one colour each, with the count printed on each bar.

    With ``on_click``, a click on a bar that has a ``key`` and a count calls
    ``on_click(key)`` (the window then filters the table to those decisions), and the
    pointer over the chart is a pointing hand.
    """
    chart = _base_chart()
    series = QStackedBarSeries()
    for index, bar in enumerate(bars):
        values = [0.0] * len(bars)
        values[index] = float(bar.value)
        bar_set = QBarSet(chart_label(bar.label))
        bar_set.append(values)
        bar_set.setColor(bar.color)
        bar_set.setBorderColor(bar.color.darker(115))
        bar_set.setLabelColor(_palette().color(QPalette.ColorRole.WindowText))
        series.append(bar_set)
    series.setBarWidth(0.6)
    series.setLabelsVisible(True)
    series.setLabelsFormat("@value")
    series.setLabelsPosition(QAbstractBarSeries.LabelsPosition.LabelsOutsideEnd)
    chart.addSeries(series)
    x_axis = QBarCategoryAxis()
    x_axis.append([chart_label(bar.label) for bar in bars])
    top, ticks = nice_count_range(max((bar.value for bar in bars), default=0))
    y_axis = QValueAxis()
    y_axis.setRange(0, top)
    y_axis.setTickCount(ticks)
    y_axis.setLabelFormat("%d")
    _attach_axes(chart, (series,), x_axis, y_axis, value_title)
    view = chart_view(chart)
    if on_click is not None:
        keys = [bar.key if bar.value > 0 else None for bar in bars]

        def clicked(index: int, _bar_set: QBarSet) -> None:
            key = keys[index] if 0 <= index < len(keys) else None
            if key is not None:
                on_click(key)

        series.clicked.connect(clicked)
        if any(key is not None for key in keys):
            view.setCursor(Qt.CursorShape.PointingHandCursor)
            view.setToolTip("Click a bar to list those decisions")
    return view


def line_chart(labels: Sequence[Label], values: Sequence[float | None], *,
               value_title: str = "", marked: Sequence[bool] | None = None,
               names: tuple[str, str] = ("", "")) -> QChartView:
    """Shares (0–1) as whole percentages over ordered categories; None leaves no point.

    ``marked`` (one flag per category) takes those points off the line into a series of
    their own: orange squares, not joined (e.g. replay runs, which answer again what the
    runs on the line decided). With any marked point a legend names both series by
    ``names`` (unmarked, marked).
    """
    chart = _base_chart()
    palette = _palette()
    flags = list(marked) if marked is not None else [False] * len(values)
    line = QLineSeries()
    line.setPen(QPen(ACCENT, 2.5))
    points = _point_series(ACCENT, QScatterSeries.MarkerShape.MarkerShapeCircle)
    squares = _point_series(MARKED, QScatterSeries.MarkerShape.MarkerShapeRectangle)
    for index, value in enumerate(values):
        if value is None:
            continue
        if flags[index]:
            squares.append(index, round(value * 100))
            continue
        line.append(index, round(value * 100))
        points.append(index, round(value * 100))
    series: list[QAbstractSeries] = [line, points]
    chart.addSeries(line)
    chart.addSeries(points)
    if squares.count():
        chart.addSeries(squares)
        series.append(squares)
        points.setName(chart_text(names[0]))
        squares.setName(chart_text(names[1]))
        legend = chart.legend()
        legend.setVisible(True)
        legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        legend.setMarkerShape(QLegend.MarkerShape.MarkerShapeFromSeries)
        legend.setLabelColor(palette.color(QPalette.ColorRole.WindowText))
        for marker in legend.markers(line):
            marker.setVisible(False)
    x_axis = QBarCategoryAxis()
    x_axis.append([chart_label(label) for label in labels])
    y_axis = QValueAxis()
    y_axis.setRange(0, 110)
    y_axis.setTickType(QValueAxis.TickType.TicksDynamic)
    y_axis.setTickAnchor(0)
    y_axis.setTickInterval(25)
    y_axis.setLabelFormat("%d%%")
    _attach_axes(chart, series, x_axis, y_axis, value_title)
    return chart_view(chart)


def _point_series(color: QColor, shape: QScatterSeries.MarkerShape) -> QScatterSeries:
    """Markers of ``color`` labelled with their percentage."""
    palette = _palette()
    points = QScatterSeries()
    points.setMarkerShape(shape)
    points.setMarkerSize(9 if shape == QScatterSeries.MarkerShape.MarkerShapeCircle else 10)
    points.setColor(color)
    points.setBorderColor(palette.color(QPalette.ColorRole.Base))
    points.setPointLabelsVisible(True)
    points.setPointLabelsFormat("@yPoint%")
    points.setPointLabelsClipping(False)
    points.setPointLabelsColor(palette.color(QPalette.ColorRole.WindowText))
    label_font = QFont(points.pointLabelsFont())
    label_font.setPointSizeF(max(7.0, label_font.pointSizeF() * 0.9))
    points.setPointLabelsFont(label_font)
    return points


def _attach_axes(chart: QChart, series: Sequence[QAbstractSeries], x_axis: QBarCategoryAxis,
                 y_axis: QValueAxis, value_title: str) -> None:
    """Style both axes, title the value axis, and attach every series to them."""
    if value_title:
        y_axis.setTitleText(chart_text(value_title))
    axes: tuple[tuple[QBarCategoryAxis | QValueAxis, Qt.AlignmentFlag], ...] = (
        (x_axis, Qt.AlignmentFlag.AlignBottom), (y_axis, Qt.AlignmentFlag.AlignLeft))
    for axis, alignment in axes:
        _style_axis(axis)
        chart.addAxis(axis, alignment)
        for one in series:
            one.attachAxis(axis)


def shade(color: QColor, strength: float) -> QColor:
    """``color`` with an alpha for a heat-map cell (0 = none, 1 = strongest)."""
    shaded = QColor(color)
    shaded.setAlpha(0 if strength <= 0 else int(40 + 150 * min(1.0, strength)))
    return shaded


def matrix_table(rows: Sequence[str], columns: Sequence[str],
                 counts: dict[tuple[str, str], int], row_labels: dict[str, str],
                 column_labels: dict[str, str], *, diagonal_good: bool = True,
                 parent: QWidget | None = None) -> QTableWidget:
    """A shaded count matrix; diagonal cells are bold and tinted green, others red.

    Args:
        rows, columns: the keys of the matrix, in display order.
        counts: ``(row key, column key) -> count``; missing pairs count 0.
        row_labels, column_labels: header text per key.
        diagonal_good: tint the diagonal as agreement (False: no diagonal meaning).
    """
    table = QTableWidget(len(rows), len(columns), parent)
    table.setHorizontalHeaderLabels([column_labels[c] for c in columns])
    table.setVerticalHeaderLabels([row_labels[r] for r in rows])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setShowGrid(True)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    bold = QFont(header.font())
    bold.setBold(True)
    widest = max((QFontMetrics(bold).horizontalAdvance(column_labels[c]) for c in columns),
                 default=0)
    header.setMinimumSectionSize(widest + 18)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(34)
    table.horizontalHeader().setHighlightSections(False)
    table.verticalHeader().setHighlightSections(False)
    largest = max(counts.values(), default=0) or 1
    for r, row in enumerate(rows):
        for c, column in enumerate(columns):
            count = counts.get((row, column), 0)
            on_diagonal = diagonal_good and row == column
            item = QTableWidgetItem(str(count) if count else "·")
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            if count:
                item.setBackground(shade(GOOD if on_diagonal else BAD, count / largest))
            if on_diagonal:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, c, item)
    table.ensurePolished()
    header.ensurePolished()
    header_height = header.sizeHint().height()
    table.setFixedHeight(header_height + 34 * len(rows) + 2 * table.frameWidth() + 2)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return table
