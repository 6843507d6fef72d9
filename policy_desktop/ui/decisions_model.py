"""The decisions table: a lazy, keyset-paged QAbstractTableModel over the store.

Rows are loaded a page at a time through :class:`DecisionQueries.page` on the
database thread (``fetchMore`` returns at once; the rows are inserted when the
page arrives). The model holds at most ``max_rows`` rows (:data:`MAX_ROWS`);
past that, :attr:`DecisionsModel.capped` is true and the window asks the
reviewer to narrow the filter. Everything shown is plain text.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.decision import CORRECTION_ACTIONS, parse_timestamp
from policy_desktop.store.queries import (
    SORT_ORDER,
    DecisionFilter,
    DecisionQueries,
    DecisionSummary,
    PageCursor,
    SortOrder,
    listed_after,
)
from policy_desktop.ui.decision_style import DECISION_GLYPHS, decision_short_label
from policy_desktop.ui.tasks import DbExecutor

PAGE_SIZE = 200
MAX_ROWS = 50_000
"""Rows held at most (about 4 KB each with their display texts); a review session
never gets near it: reviewed rows leave the Unreviewed view."""
REFRESH_ROWS = 2_000
"""A live update re-reads at most this many rows from the top; rows further down
keep what they showed until the view is reloaded (cheap updates at any depth)."""

AnyIndex = QModelIndex | QPersistentModelIndex


class Col(IntEnum):
    """The table's columns, in display order."""

    TIME = 0
    ACTOR = 1
    ACTION = 2
    TARGET = 3
    DECISION = 4
    EXPECTED = 5
    CORRECT = 6
    CONFIDENCE = 7
    COVERAGE = 8
    REVIEW = 9
    REVIEWER = 10
    SCENARIO = 11


HEADERS: dict[Col, tuple[str, str]] = {
    Col.TIME: ("Time", "When the model decided (local time); click to sort"),
    Col.ACTOR: ("Actor", "Who asked"),
    Col.ACTION: ("Action", "What they asked to do"),
    Col.TARGET: ("Target", "What they asked to act on"),
    Col.DECISION: ("Decision", "The model's decision"),
    Col.EXPECTED: ("Expected", "The decision the scenario expects"),
    Col.CORRECT: ("Correct", "Whether the model's decision matched the expected one"),
    Col.COVERAGE: ("Coverage", "Share of the expected reasoning points the model stated"),
    Col.CONFIDENCE: ("Confidence", "The model's confidence; click to sort least confident first"),
    Col.REVIEW: ("Review", "unreviewed, accepted or corrected"),
    Col.REVIEWER: ("Reviewer", "Who reviewed it"),
    Col.SCENARIO: ("Scenario", "Scenario id of the test suite (— for other decisions)"),
}

SORTABLE: dict[Col, tuple[str, str]] = {
    # column: (store sort for ascending indicator, for descending indicator)
    Col.TIME: ("oldest", "newest"),
    Col.CONFIDENCE: ("least_confident", "most_confident"),
}

UNREVIEWED, ACCEPTED, CORRECTED = "unreviewed", "accepted", "corrected"

BLIND_COLUMNS: frozenset[Col] = frozenset({
    Col.DECISION, Col.EXPECTED, Col.CORRECT, Col.CONFIDENCE, Col.COVERAGE, Col.REVIEW,
    Col.REVIEWER,
})
"""Cells that tell the model's answer, whether it was right, or what others decided:
hidden in blind review until the reviewer has chosen for that decision."""
HIDDEN_TEXT = "◌"
HIDDEN_TIP = "Hidden for blind review until you choose a decision for this one"

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENTS: tuple[int, ...] = tuple(
    int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if column in (Col.COVERAGE, Col.CONFIDENCE)
    else int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter) for column in Col)
_SHOWN_ROLES = frozenset({_DISPLAY, _DECORATION, _TOOLTIP, _ALIGNMENT, _FOREGROUND})
_ROW_FLAGS = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
              | Qt.ItemFlag.ItemNeverHasChildren)


def sort_indicator(sort: str) -> tuple[Col, Qt.SortOrder]:
    """The header column and arrow that show a store sort."""
    for column, (ascending, descending) in SORTABLE.items():
        if sort == ascending:
            return column, Qt.SortOrder.AscendingOrder
        if sort == descending:
            return column, Qt.SortOrder.DescendingOrder
    raise ValueError(f"unknown sort {sort!r}")


def review_state(summary: DecisionSummary) -> str:
    """``unreviewed``, ``accepted`` or ``corrected``."""
    if not summary.reviewed:
        return UNREVIEWED
    return CORRECTED if summary.review_action in CORRECTION_ACTIONS else ACCEPTED


def format_time(timestamp: str, today: date) -> tuple[str, str]:
    """Compact local time for the table and the full local time for its tooltip."""
    try:
        moment = parse_timestamp(timestamp).astimezone()
    except (ValueError, OverflowError):
        return timestamp, timestamp
    day = moment.date()
    clock = moment.strftime("%H:%M")
    if day == today:
        short = f"today {clock}"
    elif day == today - timedelta(days=1):
        short = f"yesterday {clock}"
    elif day.year == today.year:
        short = f"{day.day} {moment.strftime('%b')} {clock}"
    else:
        short = f"{day.day} {moment.strftime('%b %Y')}"
    return short, moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def decision_cell(value: str | None) -> str:
    """A decision as glyph and short name, e.g. ``✕ Deny`` (readable without colour)."""
    if value is None:
        return "—"
    return f"{DECISION_GLYPHS.get(value, '?')} {decision_short_label(value)}"


def _review_text(summary: DecisionSummary, state: str) -> str:
    if state == CORRECTED and summary.review_decision not in (None, summary.decision):
        return f"corrected → {decision_short_label(summary.review_decision)}"
    return state


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row: the store's summary and its display texts (made off the GUI thread)."""

    summary: DecisionSummary
    texts: tuple[str, ...]
    time_tooltip: str
    state: str
    tints: tuple[str | None, ...]  # RowStyle colour name per column (None: default)
    icons: tuple[str | None, ...]  # icon name per column

    @classmethod
    def from_summary(cls, summary: DecisionSummary, today: date) -> TableRow:
        short_time, long_time = format_time(summary.timestamp, today)
        state = review_state(summary)
        # the icon beside it shows a check or a cross, so the text is a word
        correct = {True: "yes", False: "no", None: "—"}[summary.decision_correct]
        cells = {
            Col.TIME: short_time, Col.ACTOR: _one_line(summary.actor),
            Col.ACTION: _one_line(summary.action), Col.TARGET: _one_line(summary.target),
            Col.DECISION: decision_cell(summary.decision),
            Col.EXPECTED: decision_cell(summary.expected_decision), Col.CORRECT: correct,
            Col.CONFIDENCE: _percent(summary.confidence),
            Col.COVERAGE: _percent(summary.reasoning_coverage),
            Col.REVIEW: _review_text(summary, state), Col.REVIEWER: _one_line(summary.reviewer),
            Col.SCENARIO: _one_line(summary.scenario_id) or "—",
        }
        texts = tuple(cells[column] for column in Col)
        judged = {True: "good", False: "bad", None: "muted"}[summary.decision_correct]
        tints: list[str | None] = ["muted" if text == "—" else None for text in texts]
        tints[Col.CORRECT] = judged
        tints[Col.REVIEW] = {UNREVIEWED: "muted", ACCEPTED: "good", CORRECTED: "changed"}[state]
        if summary.decision == "unparseable":
            tints[Col.DECISION] = "bad"
        icons: list[str | None] = [None] * len(Col)
        icons[Col.CORRECT] = {True: "correct", False: "incorrect", None: "unknown"}[
            summary.decision_correct]
        icons[Col.REVIEW] = state
        icons[Col.TIME] = state  # the review state at a glance, in the column always shown
        if state != UNREVIEWED:  # done rows recede; what is left to do stands out
            for column in (Col.TIME, Col.ACTOR, Col.ACTION, Col.TARGET):
                tints[column] = "muted"
        return cls(summary, texts, long_time, state, tuple(tints), tuple(icons))


def make_rows(summaries: Sequence[DecisionSummary]) -> list[TableRow]:
    """Table rows for ``summaries`` (run on the database thread)."""
    today = datetime.now().astimezone().date()
    return [TableRow.from_summary(summary, today) for summary in summaries]


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally (tooltips otherwise guess rich text)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


@dataclass
class RowStyle:
    """Colours and icons for correctness and review state (set by the theme)."""

    good: QColor = field(default_factory=lambda: QColor("#1a7f37"))
    bad: QColor = field(default_factory=lambda: QColor("#cf222e"))
    changed: QColor = field(default_factory=lambda: QColor("#9a6700"))
    muted: QColor = field(default_factory=lambda: QColor("#6e7781"))
    icons: dict[str, QIcon] = field(default_factory=dict)

    def colours(self) -> dict[str, QColor]:
        """The colours by the names rows use."""
        return {"good": self.good, "bad": self.bad, "changed": self.changed, "muted": self.muted}


LISTED_BY: dict[str, SortOrder] = SORT_ORDER
"""The order :meth:`DecisionQueries.page` lists rows in, for merging a refreshed page: the
store's own definition (the SQL ``ORDER BY`` is built from it), compared by
:func:`~policy_desktop.store.queries.listed_after`."""


def _review_fields(row: TableRow) -> tuple[Any, ...]:
    # Only the review columns of a decision ever change; the model's output does not.
    s = row.summary
    return (s.reviewed, s.review_action, s.review_decision, s.reviewer)


@dataclass
class _Page:
    rows: list[TableRow]
    cursor: PageCursor | None
    revision: int


def _load_page(flt: DecisionFilter, after: PageCursor | None,
               limit: int) -> Callable[[PolicyDecisionLog], _Page]:
    def job(log: PolicyDecisionLog) -> _Page:
        revision = log.revision()  # read first: a write after it is noticed by the next poll
        summaries, cursor = DecisionQueries(log).page(flt, after=after, limit=limit)
        return _Page(make_rows(summaries), cursor, revision)

    return job


class DecisionsModel(QAbstractTableModel):
    """Decisions matching a :class:`DecisionFilter`, loaded lazily from the store.

    Args:
        executor: the database thread.
        page_size: rows per page.
        max_rows: rows held at most.

    Signals:
        reloaded(int): the first page of a filter replaced the rows; the store revision.
        about_to_merge(): re-read rows are about to be merged in (views save their place).
        refreshed(int): loaded rows were re-read and merged; the store revision.
        load_failed(BaseException): a page could not be read.
    """

    reloaded = Signal(int)
    about_to_merge = Signal()
    refreshed = Signal(int)
    load_failed = Signal(object)

    IdRole = Qt.ItemDataRole.UserRole + 1
    SummaryRole = Qt.ItemDataRole.UserRole + 2
    StateRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, executor: DbExecutor, *, page_size: int = PAGE_SIZE,
                 max_rows: int = MAX_ROWS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._page_size = page_size
        self._max_rows = max(page_size, max_rows)
        self._rows: list[TableRow] = []
        self._cursor: PageCursor | None = None
        self._filter = DecisionFilter()
        self._generation = 0  # bumped by reload/refresh; older pages are dropped
        self._loading = False
        self._active = False
        self._blind = False
        self._revealed: set[str] = set()
        self.style = RowStyle()
        self._colours = self.style.colours()

    # --- state -----------------------------------------------------------------------

    @property
    def filter(self) -> DecisionFilter:
        """The filter the rows were (or are being) loaded for."""
        return self._filter

    @property
    def loading(self) -> bool:
        """True while a page is being read."""
        return self._loading

    @property
    def capped(self) -> bool:
        """True when more rows match than the model will hold."""
        return self._cursor is not None and len(self._rows) >= self._max_rows

    @property
    def max_rows(self) -> int:
        return self._max_rows

    def summary(self, row: int) -> DecisionSummary | None:
        """The summary shown in ``row``, or None."""
        return self._rows[row].summary if 0 <= row < len(self._rows) else None

    def decision_id(self, row: int) -> str | None:
        """The decision id shown in ``row``, or None."""
        summary = self.summary(row)
        return summary.decision_id if summary else None

    def row_of(self, decision_id: str | None) -> int:
        """The row showing ``decision_id``, or -1."""
        if decision_id is not None:
            for number, row in enumerate(self._rows):
                if row.summary.decision_id == decision_id:
                    return number
        return -1

    @property
    def blind(self) -> bool:
        """Whether blind review hides the answer cells of unrevealed rows."""
        return self._blind

    def set_blind(self, enabled: bool) -> None:
        """Hide (or show) :data:`BLIND_COLUMNS` of every row the reviewer has not chosen for."""
        if enabled != self._blind:
            self._blind = enabled
            self._revealed.clear()
            self._all_changed()

    def reveal(self, decision_id: str) -> None:
        """The reviewer chose a decision for ``decision_id``: show its answer cells."""
        if decision_id in self._revealed:
            return
        self._revealed.add(decision_id)
        row = self.row_of(decision_id)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(Col) - 1))

    def is_hidden(self, row: int, column: int) -> bool:
        """Whether blind review hides this cell."""
        if not self._blind or column not in BLIND_COLUMNS:
            return False
        summary = self.summary(row)
        return summary is not None and summary.decision_id not in self._revealed

    def _all_changed(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(Col) - 1))

    def set_style(self, style: RowStyle) -> None:
        """Use new colours and icons (theme change)."""
        self.style = style
        self._colours = style.colours()
        self._all_changed()

    # --- loading ---------------------------------------------------------------------

    def set_filter(self, flt: DecisionFilter) -> None:
        """Show the decisions of ``flt``, starting again from the first page."""
        self._filter = flt
        self._active = True
        self._generation += 1
        generation = self._generation
        self._loading = True
        self._executor.submit(
            _load_page(flt, None, self._page_size),
            lambda page: self._apply_reload(generation, page),
            lambda error: self._failed(generation, error))

    def reload(self) -> None:
        """Load the current filter again from the first page."""
        self.set_filter(self._filter)

    def clear(self) -> None:
        """Show nothing (no database open)."""
        self._active = False
        self._generation += 1
        self._loading = False
        self.beginResetModel()
        self._rows = []
        self._cursor = None
        self.endResetModel()

    def refresh(self) -> None:
        """Re-read the loaded rows (another process or a review changed the data).

        Rows that left the filter are removed, new ones inserted, changed ones
        updated in place, so the view keeps its selection. At most
        :data:`REFRESH_ROWS` rows are read again, from the top.
        """
        if not self._active:
            return
        self._generation += 1
        generation = self._generation
        self._loading = True
        limit = min(self._max_rows, REFRESH_ROWS, max(len(self._rows), self._page_size))
        self._executor.submit(
            _load_page(self._filter, None, limit),
            lambda page: self._apply_refresh(generation, page),
            lambda error: self._failed(generation, error))

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self._loading = False
            self.load_failed.emit(error)

    def _apply_reload(self, generation: int, page: _Page) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self.beginResetModel()
        self._rows = page.rows
        self._cursor = page.cursor
        self.endResetModel()
        self.reloaded.emit(page.revision)

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() or not self._active or self._loading:
            return False
        return self._cursor is not None and len(self._rows) < self._max_rows

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        generation = self._generation
        self._loading = True
        limit = min(self._page_size, self._max_rows - len(self._rows))
        self._executor.submit(
            _load_page(self._filter, self._cursor, limit),
            lambda page: self._apply_more(generation, page),
            lambda error: self._failed(generation, error))

    def _apply_more(self, generation: int, page: _Page) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._cursor = page.cursor
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self._rows.extend(page.rows)
            self.endInsertRows()

    def _apply_refresh(self, generation: int, page: _Page) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self.about_to_merge.emit()
        head = len(self._rows)
        if page.cursor is not None:  # rows after the last one read keep their place
            last, sort = page.rows[-1].summary, self._filter.sort
            low, high = 0, len(self._rows)  # the first held row listed after ``last``
            while low < high:
                middle = (low + high) // 2
                if listed_after(self._rows[middle].summary, last, sort):
                    high = middle
                else:
                    low = middle + 1
            head = low
        keeps_tail = head < len(self._rows)
        self._merge(page.rows, head)
        if not keeps_tail:  # else the old cursor still points after the last row held
            self._cursor = page.cursor
        self.refreshed.emit(page.revision)

    def _merge(self, new_rows: list[TableRow], head: int) -> None:
        """Turn the first ``head`` held rows into ``new_rows``: removals, insertions, updates.

        Sort keys (time, confidence) never change, so rows present before and
        after keep their relative order and a linear merge suffices.
        """
        new_ids = {row.summary.decision_id for row in new_rows}
        # 1. remove rows that left, bottom-up in contiguous runs
        end = head
        while end > 0:
            if self._rows[end - 1].summary.decision_id in new_ids:
                end -= 1
                continue
            start = end - 1
            while start > 0 and self._rows[start - 1].summary.decision_id not in new_ids:
                start -= 1
            self.beginRemoveRows(QModelIndex(), start, end - 1)
            del self._rows[start:end]
            self.endRemoveRows()
            head -= end - start
            end = start
        # 2. insert new rows, top-down in contiguous runs; update kept ones
        old_ids = {row.summary.decision_id for row in self._rows[:head]}
        position = 0
        changed: list[int] = []
        index = 0
        while index < len(new_rows):
            row = new_rows[index]
            if row.summary.decision_id in old_ids:
                if _review_fields(self._rows[position]) != _review_fields(row):
                    self._rows[position] = row
                    changed.append(position)
                position += 1
                index += 1
                continue
            run_end = index
            while run_end < len(new_rows) and new_rows[run_end].summary.decision_id not in old_ids:
                run_end += 1
            self.beginInsertRows(QModelIndex(), position, position + run_end - index - 1)
            self._rows[position:position] = new_rows[index:run_end]
            self.endInsertRows()
            position += run_end - index
            index = run_end
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0),
                                  self.index(max(changed), len(Col) - 1))

    # --- Qt model API ------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Col)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Col):
            return None
        title, description = HEADERS[Col(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return description
        return None

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        # Called for every visible cell and role on each paint: kept to cheap lookups.
        number = index.row()
        if number < 0 or number >= len(self._rows):
            return None
        row = self._rows[number]
        column = index.column()
        if self._blind and role in _SHOWN_ROLES and column in BLIND_COLUMNS \
                and row.summary.decision_id not in self._revealed:
            return self._hidden_data(role)
        if role == _DISPLAY:
            return row.texts[column]
        if role == _FOREGROUND:
            tint = row.tints[column]
            return None if tint is None else self._colours[tint]
        if role == _DECORATION:
            icon = row.icons[column]
            return None if icon is None else self.style.icons.get(icon)
        if role == _ALIGNMENT:
            return _ALIGNMENTS[column]
        if role == _TOOLTIP:
            return self._tooltip(row, Col(column))
        if role == self.IdRole:
            return row.summary.decision_id
        if role == self.SummaryRole:
            return row.summary
        if role == self.StateRole:
            return row.state
        return None

    def _hidden_data(self, role: int) -> Any:
        if role == _DISPLAY:
            return HIDDEN_TEXT
        if role == _FOREGROUND:
            return self._colours["muted"]
        if role == _TOOLTIP:
            return plain_tooltip(HIDDEN_TIP)
        if role == _ALIGNMENT:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None  # no icon: nothing tells the answer

    def _tooltip(self, row: TableRow, column: Col) -> str | None:
        if column == Col.TIME:
            return plain_tooltip(row.time_tooltip)
        if column == Col.REVIEW and row.summary.review_action:
            by = f" by {row.summary.reviewer}" if row.summary.reviewer else ""
            return plain_tooltip(f"{row.summary.review_action.replace('_', ' ')}{by}")
        text = row.texts[column]
        return plain_tooltip(text) if text and text != "—" else None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by time or confidence (in the store); other columns are not sortable."""
        if column not in SORTABLE:
            return
        ascending, descending = SORTABLE[Col(column)]
        sort = ascending if order == Qt.SortOrder.AscendingOrder else descending
        if sort != self._filter.sort:
            self.set_filter(replace(self._filter, sort=sort))
