"""The Statistics tab's team widgets: agreement tables and the reviewer list.

Plain text only (reviewer names come from the log). The reviewer list is alphabetical
and has no rank, medal or colour scale: it shows the team its work, not a leaderboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from policy_desktop.store.agreement import AgreementFigures
from policy_desktop.store.team_statistics import TeamStatistics
from policy_desktop.ui.decision_style import decision_short_label

MAX_TABLE_ROWS = 12


def coefficient(value: float | None, figures: AgreementFigures | None = None) -> str:
    """κ or α as ``0.53``; ``—`` when undefined (``n/a, one answer`` when every answer
    was the same category: chance agreement is then certain)."""
    if value is not None:
        return f"{value:.2f}"
    if figures is not None and figures.units and figures.alpha is None:
        return "— (one answer)"
    return "—"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def pace(seconds: float | None) -> str:
    """``45 s`` per review (``1.5 min`` from 90 s on), ``—`` when unknown."""
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
               numeric: Sequence[int] = (), object_name: str = "",
               stretch: int | None = 0) -> QTableWidget:
    """A read-only table of plain strings; ``numeric`` columns are right-aligned."""
    table = QTableWidget(len(rows), len(headers))
    if object_name:
        table.setObjectName(object_name)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setSortingEnabled(False)  # the order is the meaning (alphabetical, by time)
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if column in numeric:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, column, item)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    row_height = table.verticalHeader().defaultSectionSize()
    visible = max(1, min(len(rows), MAX_TABLE_ROWS))
    table.setFixedHeight(header.sizeHint().height() + row_height * visible
                         + 2 * table.frameWidth() + 2)
    return table


AGREEMENT_HEADERS = ("Decisions", "Observed", "Cohen's κ", "Krippendorff's α")


def _agreement_row(label: str, figures: AgreementFigures) -> list[str]:
    return [label, f"{figures.units:,}", share(figures.observed),
            coefficient(figures.kappa, figures), coefficient(figures.alpha, figures)]


def by_type_table(team: TeamStatistics) -> QTableWidget:
    """Agreement by the model's decision (the kind of case judged)."""
    rows = [_agreement_row(decision_short_label(kind), figures)
            for kind, figures in team.agreement.by_type.items()]
    return text_table(("Model's decision", *AGREEMENT_HEADERS), rows, numeric=(1, 2, 3, 4),
                      object_name="agreementByType")


def by_month_table(team: TeamStatistics) -> QTableWidget:
    """Agreement over time: by the month (UTC) each pair of answers was completed,
    newest first."""
    rows = [_agreement_row(month, figures)
            for month, figures in sorted(team.agreement.by_month.items(), reverse=True)]
    return text_table(("Month", *AGREEMENT_HEADERS), rows, numeric=(1, 2, 3, 4),
                      object_name="agreementByMonth")


def pairs_table(team: TeamStatistics) -> QTableWidget:
    """Cohen's κ of each pair of reviewers, alphabetically."""
    rows = [_agreement_row(f"{a} · {b}", figures)
            for (a, b), figures in team.agreement.pairs.items()]
    return text_table(("Reviewers", *AGREEMENT_HEADERS), rows, numeric=(1, 2, 3, 4),
                      object_name="agreementByPair")


REVIEWER_HEADERS = ("Reviewer", "Reviews", "Corrections", "Answered blind with others",
                    "Agreement with others", "Time per review", "Assigned, open",
                    "Last review")


def reviewers_table(team: TeamStatistics,
                    local_time: Callable[[str], str] | None = None) -> QTableWidget:
    """Each reviewer's work in alphabetical order (never sorted by a figure)."""
    def when(stamp: str | None) -> str:
        if not stamp:
            return "—"
        return local_time(stamp) if local_time else stamp[:16].replace("T", " ")

    rows = [[f.name, f"{f.reviews:,}", f"{f.corrections:,}", f"{f.shared:,}",
             share(f.agreement), pace(f.median_seconds),
             f"{team.assigned_open.get(f.name, 0):,}", when(f.last)]
            for f in team.reviewers]
    return text_table(REVIEWER_HEADERS, rows, numeric=(1, 2, 3, 4, 5, 6),
                      object_name="reviewersTable", stretch=7)
