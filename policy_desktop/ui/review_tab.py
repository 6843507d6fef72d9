"""The Review tab's layout: filter bar, "all done" line and table beside the review panel,
or the welcome panel when there is nothing to review yet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSplitter, QStackedWidget, QVBoxLayout, QWidget

from policy_desktop.ui.decisions_model import DecisionsModel
from policy_desktop.ui.decisions_table import DecisionsTable
from policy_desktop.ui.filter_bar import FilterBar
from policy_desktop.ui.queue_banner import QueueDoneBanner
from policy_desktop.ui.queue_bar import QueueBar
from policy_desktop.ui.review_pages import (
    EMPTY_PAGE,
    TABLE_PAGE,
    WELCOME_PAGE,
    choose_page,
    next_queue,
    queue_done_text,
)
from policy_desktop.ui.view_counts import Counts
from policy_desktop.ui.welcome import EmptyViewMessage, WelcomePanel


class ReviewTab(QStackedWidget):
    """The table and the review panel side by side (a splitter), or the welcome panel;
    the team queue's line above the panel.

    Args:
        model: the table's rows.
        panel: the review panel (the splitter's right side).
        parent: the owner.
    """

    def __init__(self, model: DecisionsModel, panel: QWidget,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter_bar = FilterBar()
        self.table = DecisionsTable(model)
        self.table.show_sort(self.filter_bar.filter.sort)
        self.empty_view = EmptyViewMessage()
        self.pages = QStackedWidget()  # the left pane: the table or why it is empty
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.empty_view)
        self.queue_done = QueueDoneBanner()
        self.queue_done.next_requested.connect(self._go_to_next_queue)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(self.filter_bar)
        left_layout.addWidget(self.queue_done)
        left_layout.addWidget(self.pages, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("reviewSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.queue_bar = QueueBar()  # the team queue's state, above the panel it feeds
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.queue_bar)
        right_layout.addWidget(panel, 1)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([820, 560])
        # Nothing to filter or review yet: the welcome panel takes the whole tab.
        self.welcome = WelcomePanel()
        self.addWidget(self.splitter)
        self.addWidget(self.welcome)
        self._counts: Counts | None = None

    def set_page(self, page: int) -> None:
        """Show the table, the welcome panel or the empty-view message."""
        welcome = page == WELCOME_PAGE
        self.setCurrentWidget(self.welcome if welcome else self.splitter)
        if not welcome:
            self.pages.setCurrentWidget(self.table if page == TABLE_PAGE else self.empty_view)

    def current_page(self) -> int:
        """:data:`TABLE_PAGE`, :data:`WELCOME_PAGE` or :data:`EMPTY_PAGE`."""
        if self.currentWidget() is self.welcome:
            return WELCOME_PAGE
        return TABLE_PAGE if self.pages.currentWidget() is self.table else EMPTY_PAGE

    def choose(self, counts: Counts | None, database: str, icon: QIcon) -> int:
        """The page for ``counts`` of the open ``database`` (its name); the "all done"
        line follows. Returns the page to show (not shown yet: see :meth:`set_page`)."""
        self._counts = counts
        model = self.table.decisions
        page, message = choose_page(counts, self.filter_bar.filter.view, model.rowCount(),
                                    model.loading, self._filtered())
        if page == WELCOME_PAGE:
            self.welcome.show_empty_database(database)
        elif page == EMPTY_PAGE and message is not None:
            self.empty_view.show_message(*message, icon)
        return page

    def update_queue_done(self) -> None:
        """Show "all done — next queue?" when the view's work is done (after a page change)."""
        view = self.filter_bar.filter.view
        text = queue_done_text(self._counts, view, self.table.decisions.rowCount(),
                               self.current_page() == WELCOME_PAGE)
        if text is None:
            self.queue_done.hide()
            return
        offered = next_queue(self._counts, view, self._filtered())
        self.queue_done.show_done(text, offered.label if offered else None)

    def _filtered(self) -> bool:
        return self.filter_bar.clear_button.isVisible()

    def _go_to_next_queue(self) -> None:
        offered = next_queue(self._counts, self.filter_bar.filter.view, self._filtered())
        if offered is None:
            return
        if offered.view is None:
            self.filter_bar.clear_facets()
        else:
            self.filter_bar.set_view(offered.view)
