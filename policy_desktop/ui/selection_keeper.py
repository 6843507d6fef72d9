"""The reviewer's place in the table: moving through it, and keeping it across re-reads.

When the rows are read again (a review, an undo, another process), the selection stays
on the decision it was on, or moves to the one a write asked for (an undone review, a
review that was not saved); after a new filter it starts at the first row.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject

from policy_desktop.ui.decisions_model import DecisionsModel
from policy_desktop.ui.decisions_table import DecisionsTable
from policy_desktop.ui.panel_feed import PanelFeed

ShowPanel = Callable[..., None]
"""``show(decision_id, force=False)``: put a decision (or nothing) in the review panel."""


class SelectionKeeper(QObject):
    """Selects rows of ``table`` and shows the current one through ``show``.

    Args:
        table: the decisions table (its model is ``table.decisions``).
        feed: what the review panel shows.
        show: puts a decision in the panel (``show(decision_id, force=False)``).
        parent: the owner.
    """

    def __init__(self, table: DecisionsTable, feed: PanelFeed, show: ShowPanel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._table = table
        self._model: DecisionsModel = table.decisions
        self._feed = feed
        self._show = show
        self._after_refresh: str | None = None
        self._pinned: str | None = None
        self._merging = False
        self._model.about_to_merge.connect(self._merge_starts)
        self._model.reloaded.connect(self._reloaded)
        self._model.refreshed.connect(self._refreshed)
        table.selectionModel().currentRowChanged.connect(self._current_changed)

    def select_after_refresh(self, decision_id: str) -> None:
        """Select ``decision_id`` (or show it alone) once the rows are read again."""
        self._after_refresh = decision_id

    # --- moving ------------------------------------------------------------------------

    def show(self, decision_id: str | None) -> None:
        """Show ``decision_id`` in the panel whether or not the table holds its row."""
        self._show(decision_id)

    def clear(self) -> None:
        """Select no row (the panel shows a decision the table does not list)."""
        self._table.clearSelection()

    def pin(self, decision_id: str | None) -> None:
        """The panel shows ``decision_id``, which no row stands for (a blind second
        opinion): re-read rows moving the current row do not replace it; the reviewer's
        own move does (None: nothing pinned)."""
        self._pinned = decision_id

    def select_row(self, row: int) -> bool:
        """Select ``row`` (and show it in the review panel)."""
        return self._table.select_row(row)

    def select_decision(self, decision_id: str | None) -> bool:
        """Select the row of ``decision_id`` if the table holds it."""
        return self._table.select_row(self._model.row_of(decision_id))

    def select_next(self) -> None:
        """Move to the next row (reading the next page at the end)."""
        index = self._table.currentIndex()
        row = index.row() + 1 if index.isValid() else 0
        if row >= self._model.rowCount() and self._model.canFetchMore():
            self._model.fetchMore()
        self.select_row(min(row, self._model.rowCount() - 1))

    def select_previous(self) -> None:
        """Move to the previous row."""
        index = self._table.currentIndex()
        self.select_row(max(0, index.row() - 1) if index.isValid() else 0)

    def move_past(self, decision_id: str) -> None:
        """After a review or a skip: on to the row below ``decision_id``."""
        row = self._model.row_of(decision_id)
        if row < 0:
            return
        if row + 1 < self._model.rowCount():
            self.select_row(row + 1)
        elif self._model.canFetchMore():
            self._model.fetchMore()

    # --- keeping the place ----------------------------------------------------------------

    def _merge_starts(self) -> None:
        self._merging = True

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._pinned is not None:
            if self._merging and self._pinned == self._feed.shown_id:
                return  # rows came or went: the pinned decision stays on show
            self._pinned = None
        decision_id = self._model.decision_id(current.row()) if current.isValid() else None
        if decision_id != self._feed.shown_id:
            self._show(decision_id)

    def _reloaded(self, _revision: int) -> None:
        self._pinned = None  # another filter: its first row
        self._table.scrollToTop()
        target, self._after_refresh = self._after_refresh, None
        if not self.select_decision(target):
            self.select_row(0)
            if self._model.rowCount() == 0:
                self._show(None)

    def _refreshed(self, _revision: int) -> None:
        self._merging = False
        target, self._after_refresh = self._after_refresh, None
        if target is not None:
            if not self.select_decision(target):
                self._table.clearSelection()
                self._show(target, force=True)
            elif target == self._feed.shown_id:
                self._show(target, force=True)
        elif not self._table.currentIndex().isValid() and self._model.rowCount() \
                and self._pinned is None:
            self.select_row(0)
