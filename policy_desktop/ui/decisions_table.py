"""The decisions table view: dense rows, sortable time/confidence headers, kept place."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from policy_desktop.store.queries import DecisionFilter
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.decisions_model import SORTABLE, Col, DecisionsModel, sort_indicator

# Column widths as the text that must fit (plus room for padding and icons).
COLUMN_SAMPLES: dict[Col, str] = {
    Col.TIME: "yesterday 00:00", Col.ACTOR: "deploy-bot", Col.ACTION: "rotate_key",
    Col.TARGET: "secrets/api_keys.env··", Col.DECISION: "? Unparseable",
    Col.EXPECTED: "✎ Attestation", Col.CORRECT: "Correct··", Col.CONFIDENCE: "Confidence",
    Col.COVERAGE: "Coverage", Col.REVIEW: "corrected → MFA", Col.REVIEWER: "Reviewer",
    Col.SCENARIO: "Scenario",
}  # fmt: skip


class DecisionsTable(QTableView):
    """A row-selecting, read-only view of a :class:`DecisionsModel`.

    Args:
        model: the rows.
        parent: the owner.
    """

    def __init__(self, model: DecisionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("decisionsTable")
        self.decisions = model
        self.setModel(model)
        self._anchor: tuple[str | None, int, int] | None = None
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Shift/Ctrl+click select several rows for "Accept selected"; keys move one row.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast
        vertical.setDefaultSectionSize(max(26, self.fontMetrics().height() + 10))
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        metrics = self.fontMetrics()
        for column, sample in COLUMN_SAMPLES.items():
            header.resizeSection(column, metrics.horizontalAdvance(sample) + 22)
        model.about_to_merge.connect(self._save_anchor)
        model.refreshed.connect(self._restore_anchor)

    # --- selection ---------------------------------------------------------------------

    def select_row(self, row: int) -> bool:
        """Make ``row`` the current, selected row and scroll to it."""
        if not 0 <= row < self.decisions.rowCount():
            return False
        index = self.decisions.index(row, 0)
        self.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.scrollTo(index)
        return True

    def selected_decision_ids(self) -> list[str]:
        """The decision ids of every selected row, top to bottom."""
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [i for i in (self.decisions.decision_id(row) for row in rows) if i is not None]

    def selected_decision_id(self) -> str | None:
        """The decision id of the current row, or None."""
        index = self.currentIndex()
        return self.decisions.decision_id(index.row()) if index.isValid() else None

    @staticmethod
    def sort_for_click(section: int, current: str) -> str | None:
        """The store sort a click on header ``section`` asks for (None: not sortable).

        A second click reverses; newest first is the natural first click on time."""
        if section not in SORTABLE:
            return None
        first, second = SORTABLE[Col(section)]
        if section == Col.TIME:
            first, second = second, first
        return second if current == first else first

    def show_sort(self, sort: str) -> None:
        """Put the header's arrow on the column of a store sort."""
        column, order = sort_indicator(sort)
        self.horizontalHeader().setSortIndicator(column, order)

    def apply_changes(self, changes: Changes, flt: DecisionFilter) -> None:
        """Subscriber of the window's ``changed``: read the rows again (another database:
        the first page of ``flt``; else the loaded rows, merged in place)."""
        if changes.opened:
            self.decisions.set_filter(flt)
        elif changes.rows:
            self.decisions.refresh()

    # --- keeping the place across live updates ------------------------------------------

    def _save_anchor(self) -> None:
        bar = self.verticalScrollBar()
        height = self.verticalHeader().defaultSectionSize()
        top_row = bar.value() // height if height else 0
        self._anchor = (self.decisions.decision_id(top_row), bar.value() % height, bar.value())

    def _restore_anchor(self) -> None:
        """Keep the same rows in view when rows arrive or leave above them."""
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        top_id, offset, value = anchor
        bar = self.verticalScrollBar()
        if value == 0:  # at the top: show what arrived there
            bar.setValue(0)
            return
        row = self.decisions.row_of(top_id)
        if row >= 0:
            self.updateGeometries()
            bar.setValue(row * self.verticalHeader().defaultSectionSize() + offset)

    def _column_menu(self, position: Any) -> None:
        header = self.horizontalHeader()
        menu = QMenu(self)
        for column in Col:
            title = self.decisions.headerData(column, Qt.Orientation.Horizontal)
            action = menu.addAction(str(title))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.setEnabled(column != Col.TIME)
            action.toggled.connect(lambda on, c=column: header.setSectionHidden(c, not on))
        menu.popup(header.mapToGlobal(position))
