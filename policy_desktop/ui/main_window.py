"""The main window: the decisions table with its filters, the review panel, statistics.

The window never runs a query itself: every database call goes through the
:class:`DbExecutor` and its result comes back as a callback on the GUI thread.
The review panel, statistics view and shortcut list are built by the caller
(``app.py``) and passed in as :class:`WindowParts`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.paths import default_database
from policy_desktop.store import PolicyDecision, PolicyDecisionLog, mask_passwords
from policy_desktop.store.jsonl import ImportResult
from policy_desktop.store.queries import FAILURES, VIEWS, DecisionFilter
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.decisions_model import MAX_ROWS, PAGE_SIZE, SORTABLE, Col, DecisionsModel
from policy_desktop.ui.decisions_table import DecisionsTable
from policy_desktop.ui.file_dialogs import open_file_name, save_file_name
from policy_desktop.ui.filter_bar import VIEW_LABELS, FilterBar
from policy_desktop.ui.import_dialog import (
    ImportProgressDialog,
    ImportResultDialog,
    choose_import_files,
)
from policy_desktop.ui.import_worker import ImportController
from policy_desktop.ui.live_updates import POLL_INTERVAL_MS, LiveUpdates
from policy_desktop.ui.panel_feed import PanelFeed
from policy_desktop.ui.preferences_dialog import PreferencesDialog
from policy_desktop.ui.queue_banner import QueueDoneBanner
from policy_desktop.ui.review_session import ReviewSession
from policy_desktop.ui.session_progress import SessionProgress
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.status_bar import ReviewStatusBar
from policy_desktop.ui.tasks import DbExecutor, OpenedDatabase
from policy_desktop.ui.theme import Theme
from policy_desktop.ui.view_counts import Counts, ViewCounts
from policy_desktop.ui.welcome import EmptyViewMessage, WelcomePanel
from policy_desktop.ui.window_actions import (
    MENUS,
    ShortcutLike,
    SingleKeyGuard,
    add_actions,
    build_actions,
    build_toolbar,
    retint_icons,
    single_key_sequences,
    window_key_sequences,
)
from policy_desktop.vocabulary import DECISIONS

APP_TITLE = "Policy Desktop"
SORT_LABELS: dict[str, str] = {
    "newest": "Newest first", "oldest": "Oldest first",
    "least_confident": "Least confident first", "most_confident": "Most confident first",
}  # fmt: skip
EMPTY_VIEW_TEXT: dict[str, tuple[str, str]] = {
    "unreviewed": ("All caught up", "Every decision in this view has been reviewed."),
    "incorrect": ("Nothing incorrect", "No decision here missed its expected decision."),
    "corrections": ("No corrections yet", "Decisions you correct will be listed here."),
    "reviewed": ("Nothing reviewed yet", "Decisions you review will be listed here."),
    "all": ("No decisions", "No decision matches."),
    "failures": ("No failures", "Every decision of this run passed."),
}
TABLE_PAGE, WELCOME_PAGE, EMPTY_PAGE = 0, 1, 2
REVIEW_ACTIONS = ("accept", "commit", "skip", "focus_reasoning", "choose_allow", "choose_deny",
                  "choose_attestation", "choose_mfa")
HEADER_STATE = "table_header_v2"  # bump when the columns change: old widths would not fit
STATUS_MESSAGE_MS = 6000
IMPORTED = Changes(decisions=True, reviews=True)  # an import stores decisions, merges reviews


@dataclass
class WindowParts:
    """The widgets other modules provide, built once by the composition root.

    Args:
        review_panel: the detail pane and correction form (a QWidget).
        shortcuts: the keyboard shortcut list.
        is_text_input: whether a widget takes typed text (single keys stay there).
        statistics_view: the statistics tab (``set_data``), or None.
        collect_statistics: computes the statistics view's data from the log.
        shortcuts_dialog: builds the Help → Keyboard shortcuts dialog.
    """

    review_panel: QWidget
    shortcuts: Sequence[ShortcutLike]
    is_text_input: Callable[[QWidget | None], bool]
    statistics_view: QWidget | None = None
    collect_statistics: Callable[[PolicyDecisionLog], object] | None = None
    shortcuts_dialog: Callable[[QWidget], QDialog] | None = None
    loop: Any = None  # a ReviewLoop: runs, the export wizard and run comparison


class MainWindow(QMainWindow):
    """Policy Desktop's main window.

    Args:
        settings: the app's settings (reviewer, theme, window state…).
        executor: the database thread.
        theme: the current theme (icons, colours).
        parts: the review panel, statistics view and shortcut list.
        poll_interval_ms: how often to look for writes by other processes.
        page_size: table rows read per page.
        max_rows: table rows held at most.

    Signals:
        run_quick_suite_requested(): "Run quick suite" was asked for.
        database_opened(str): a database was opened (its display name).
        review_written(str, str): a review was stored (decision id, action).
        review_undone(str): a review made in this window was undone (decision id).
        theme_changed(str): the reviewer chose another theme.
    """

    run_quick_suite_requested = Signal()
    database_opened = Signal(str)
    review_written = Signal(str, str)
    review_undone = Signal(str)
    theme_changed = Signal(str)

    def __init__(self, settings: Settings, executor: DbExecutor, theme: Theme,
                 parts: WindowParts, *, poll_interval_ms: int = POLL_INTERVAL_MS,
                 page_size: int = PAGE_SIZE, max_rows: int = MAX_ROWS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings
        self.executor = executor
        self.theme = theme
        self.parts = parts
        self.panel: QWidget = parts.review_panel
        self.database: OpenedDatabase | None = None
        self.session = SessionProgress()
        self.review_session = ReviewSession()  # undo, the write guard, what writes changed
        self._keys_waiting: list[Callable[[], object]] = []
        self._draining_keys = False
        self._refresh_after_keys = False
        self._select_after_refresh: str | None = None
        self._statistics_dirty = True
        self.dialogs: list[QWidget] = []  # open non-modal dialogs (kept alive)
        self._import: ImportController | None = None

        self.model = DecisionsModel(executor, page_size=page_size, max_rows=max_rows,
                                    parent=self)
        self.model.set_style(theme.row_style())
        self.live = LiveUpdates(executor, poll_interval_ms, self)
        self.counts = ViewCounts(executor, lambda: self.filter_bar.filter, self)
        self.feed = PanelFeed(executor, self.model, self.panel, self._status, self)
        self.feed.displayed.connect(self._run_waiting_keys)
        self.feed.display_failed.connect(self._drop_waiting_keys)

        self._build_central()
        self._build_status_bar()
        self.actions_by_id = build_actions(self, parts.shortcuts, self._handlers(), theme)
        self._build_menus()
        self.guard = SingleKeyGuard(single_key_sequences(parts.shortcuts),
                                    parts.is_text_input, self,
                                    window_keys=window_key_sequences(parts.shortcuts))
        self._connect()
        self._restore_state()
        self._apply_blind(settings.blind_review)
        self.filter_bar.set_search_icon(theme.icon("search"))
        self._update_title()
        self._show_no_database("Opening the database…")
        self._update_actions()

    # --- building --------------------------------------------------------------------

    def _build_central(self) -> None:
        self.filter_bar = FilterBar()
        self.table = DecisionsTable(self.model)
        self.table.show_sort(self.filter_bar.filter.sort)

        self.empty_view = EmptyViewMessage()
        self.pages = QStackedWidget()  # the left pane: the table or why it is empty
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.empty_view)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        self.queue_done = QueueDoneBanner()
        self.queue_done.next_requested.connect(self._go_to_next_queue)
        left_layout.addWidget(self.filter_bar)
        left_layout.addWidget(self.queue_done)
        left_layout.addWidget(self.pages, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("reviewSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([820, 560])
        # Nothing to filter or review yet: the welcome panel takes the whole tab.
        self.welcome = WelcomePanel()
        self.review_pages = QStackedWidget()
        self.review_pages.addWidget(self.splitter)
        self.review_pages.addWidget(self.welcome)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.review_pages, "Review")
        if self.parts.statistics_view is not None:
            self.tabs.addTab(self.parts.statistics_view, "Statistics")
        self.setCentralWidget(self.tabs)
        self.resize(1440, 860)

    def _build_status_bar(self) -> None:
        self.status = ReviewStatusBar(self.session, self)
        self.setStatusBar(self.status)
        self.progress_label = self.status.progress_label
        self.session_label = self.status.session_label

    def _handlers(self) -> dict[str, Callable[[], object]]:
        panel: Any = self.panel
        handlers: dict[str, Callable[[], object]] = {
            "accept": self._when_shown(panel.accept),
            "commit": self._when_shown(panel.commit),
            "skip": self._when_shown(panel.skip),
            "focus_reasoning": self._when_shown(panel.focus_reasoning),
            "undo": self.undo_last_review,
            "toggle_blind": self.toggle_blind_review,
            "next": self.select_next,
            "previous": self.select_previous,
            "search": self.filter_bar.focus_search,
            "show_shortcuts": self.show_shortcuts,
            "quit": self.close,
            "open_database": self.choose_database_to_open,
            "new_database": self.choose_database_to_create,
            "import_log": self.choose_files_to_import,
            "preferences": self.show_preferences,
            "refresh": self.reload,
            "dark_theme": self.toggle_dark_theme,
            "statistics": self.show_statistics,
            "about": self.show_about,
            "prompt_versions": self.show_prompt_versions,
            "accept_selected": self.accept_selected,
        }
        names = ("choose_allow", "choose_deny", "choose_attestation", "choose_mfa")
        for action_id, decision in zip(names, DECISIONS, strict=True):
            handlers[action_id] = self._when_shown(
                lambda d=decision: panel.choose_decision(d))
        if self.parts.statistics_view is None:
            del handlers["statistics"]
        loop = self.parts.loop
        if loop is not None:
            handlers.update(run_scenarios=loop.open_run_dialog,
                            export_training=loop.open_export_wizard,
                            compare_runs=loop.open_compare,
                            finetune=lambda: loop.open_finetune())
        return handlers

    def _build_menus(self) -> None:
        a = self.actions_by_id
        menu = self.menuBar()
        for title in ("&File", "&Edit", "&Review", "&Runs"):
            add_actions(menu.addMenu(title), a, MENUS[title])
        view = menu.addMenu("&View")
        add_actions(view, a, ("next", "previous", "search", None))
        self.view_actions = self._choice_actions(
            view, {name: VIEW_LABELS[name] for name in VIEWS}, "view", self.filter_bar.set_view)
        self.sort_actions = self._choice_actions(
            view.addMenu("&Sort"), SORT_LABELS, "sort", self.filter_bar.set_sort)
        add_actions(view, a, (None, "statistics", "refresh", "dark_theme"))
        add_actions(menu.addMenu("&Help"), a, ("show_shortcuts", None, "about"))
        self._sync_menu_checks()
        self.toolbar = build_toolbar(a)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

    @staticmethod
    def _choice_actions(menu: QMenu, labels: dict[str, str], kind: str,
                        choose: Callable[[str], None]) -> dict[str, QAction]:
        actions: dict[str, QAction] = {}
        for name, label in labels.items():
            action = menu.addAction(label)
            action.setObjectName(f"action_{kind}_{name}")
            action.setCheckable(True)
            action.triggered.connect(lambda _checked=False, n=name: choose(n))
            actions[name] = action
        return actions

    def _connect(self) -> None:
        panel: Any = self.panel
        panel.submitted.connect(self._on_submitted)
        panel.skipped.connect(self._on_skipped)
        if hasattr(panel, "revealed"):
            panel.revealed.connect(self.model.reveal)
        self.filter_bar.filter_changed.connect(self._on_filter_changed)
        self.model.reloaded.connect(self._on_reloaded)
        self.model.refreshed.connect(self._on_refreshed)
        self.model.rowsInserted.connect(self._update_cap_label)
        self.model.load_failed.connect(self._on_load_failed)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self._update_actions())
        self.table.horizontalHeader().sectionClicked.connect(self._on_header_clicked)
        self.live.changed.connect(self._on_external_change)
        self.counts.changed.connect(lambda counts: self.filter_bar.set_counts(counts.views))
        self.counts.changed.connect(self._on_counts)  # after the filter bar: the page reads it
        self.counts.facets_changed.connect(self.filter_bar.set_facets)
        self.counts.failed.connect(self._status)
        self.live.failed.connect(lambda e: self._status(f"Cannot check for updates: {e}"))
        self.executor.unhandled_error.connect(lambda e: self._status(f"Database error: {e}"))
        self.welcome.run_quick_suite_requested.connect(self.run_quick_suite_requested)
        self.welcome.import_requested.connect(self.choose_files_to_import)
        self.welcome.open_requested.connect(self.choose_database_to_open)
        self.welcome.new_requested.connect(self.choose_database_to_create)
        cell_clicked = getattr(self.parts.statistics_view, "cell_clicked", None)
        if cell_clicked is not None:
            cell_clicked.connect(self.show_confusion_cell)
        if self.parts.loop is not None:
            self.parts.loop.attach(self)
        else:  # a window without the run machinery (tests): explain the terminal command
            self.run_quick_suite_requested.connect(self._explain_run_command)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _restore_state(self) -> None:
        geometry = self.settings.window_state("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = self.settings.window_state("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        header = self.settings.window_state(HEADER_STATE)
        if header is not None:
            self.table.horizontalHeader().restoreState(header)
        self.table.show_sort(self.filter_bar.filter.sort)

    def save_state(self) -> None:
        """Remember geometry, splitter and column widths."""
        self.settings.set_window_state("geometry", self.saveGeometry())
        self.settings.set_window_state("splitter", self.splitter.saveState())
        self.settings.set_window_state(HEADER_STATE,
                                       self.table.horizontalHeader().saveState())
        self.settings.sync()

    # --- database --------------------------------------------------------------------

    def open_database(self, database: str | None, *, create: bool = True,
                      remember: bool = False) -> None:
        """Open ``database`` (None: the default) on the database thread.

        On failure a dialog names the file and the window stays usable: the
        previous database (if any) stays open, else the welcome panel offers
        File → Open database… and New database….
        """
        shown = mask_passwords(database or default_database())
        self._status(f"Opening {shown}…", 0)

        def opened(info: OpenedDatabase) -> None:
            self._on_opened(info, remember)

        self.executor.open(database, create=create, on_done=opened,
                           on_error=lambda error: self._on_open_failed(shown, error))

    def _on_opened(self, info: OpenedDatabase, remember: bool) -> None:
        self.database = info
        if remember:
            self.settings.database = info.location
        self.review_session.clear()
        self.feed.forget()
        self.counts.forget()
        self._statistics_dirty = True
        self.live.reset()
        self._update_title()
        self.statusBar().clearMessage()
        if info.backup_path is not None:
            self._status(f"Upgraded the database; the old file is kept as {info.backup_path}")
        self._load_panel(None)
        self.model.set_filter(self.filter_bar.filter)  # reads the rows
        self._refresh_dependents(Changes.everything())
        self.live.start()
        self._update_actions()
        self.database_opened.emit(info.display_name)

    def _on_open_failed(self, shown: str, error: BaseException) -> None:
        self.statusBar().clearMessage()
        reason = mask_passwords(str(error))
        self.show_message(QMessageBox.Icon.Warning, "Cannot open database",
                          f"Could not open the database\n{shown}", reason)
        if self.database is None:
            self._show_no_database(f"Could not open {shown}.\n{reason}")

    def _show_no_database(self, reason: str) -> None:
        self.welcome.show_no_database(reason)
        self._set_page(WELCOME_PAGE)

    def _set_page(self, page: int) -> None:
        """Show the table, the welcome panel or the empty-view message."""
        welcome = page == WELCOME_PAGE
        self.review_pages.setCurrentWidget(self.welcome if welcome else self.splitter)
        if not welcome:
            self.pages.setCurrentWidget(self.table if page == TABLE_PAGE else self.empty_view)
        self.status.set_reviewing(not welcome)
        self._update_actions()

    def current_page(self) -> int:
        """:data:`TABLE_PAGE`, :data:`WELCOME_PAGE` or :data:`EMPTY_PAGE`."""
        if self.review_pages.currentWidget() is self.welcome:
            return WELCOME_PAGE
        return TABLE_PAGE if self.pages.currentWidget() is self.table else EMPTY_PAGE

    def choose_database_to_open(self) -> None:
        """File → Open database…"""
        name = open_file_name(
            self, "Open database", self._dialog_folder(),
            "Decision databases (*.db *.sqlite *.sqlite3);;All files (*)")
        if name:
            self.open_database(name, create=False, remember=True)

    def choose_database_to_create(self) -> None:
        """File → New database…"""
        name = save_file_name(
            self, "New database", self._dialog_folder(), "Decision databases (*.db)")
        if not name:
            return
        path = Path(name)
        if path.exists() and path.stat().st_size > 0:
            self.show_message(QMessageBox.Icon.Warning, "Cannot create database",
                              f"{path} already exists.",
                              "Choose File → Open database… to open it.")
            return
        self.open_database(str(path), create=True, remember=True)

    def _dialog_folder(self) -> str:
        if self.database is not None and self.database.display_name:
            return str(Path(self.database.display_name).expanduser().parent)
        return str(Path(default_database()).parent)

    def reload(self) -> None:
        """View → Reload: read rows, counts and menus again."""
        if self.database is None:
            return
        self.model.reload()
        self._refresh_counts()
        self._refresh_facets()

    # --- filters, counts, pages ------------------------------------------------------

    def _on_filter_changed(self, flt: DecisionFilter) -> None:
        previous = self.model.filter
        self._sync_menu_checks()
        self.table.show_sort(flt.sort)
        if self.database is None:
            return
        self.model.set_filter(flt)
        if replace(previous, sort=flt.sort) != flt:  # the order changes no count
            self._refresh_counts()

    def _sync_menu_checks(self) -> None:
        flt = self.filter_bar.filter
        for name, action in getattr(self, "view_actions", {}).items():
            action.setChecked(name == flt.view)
        for name, action in getattr(self, "sort_actions", {}).items():
            action.setChecked(name == flt.sort)

    def _on_header_clicked(self, section: int) -> None:
        current = self.filter_bar.filter.sort
        if section not in SORTABLE:
            self.table.show_sort(current)
            self._status("Sort by time or confidence: click those column headers")
            return
        first, second = SORTABLE[Col(section)]
        if section == Col.TIME:  # newest first is the natural first click on time
            first, second = second, first
        self.filter_bar.set_sort(second if current == first else first)

    def _refresh_counts(self) -> None:
        if self.database is not None:
            self.counts.refresh()

    def _on_counts(self, _counts: Counts) -> None:
        self._update_progress()
        self._update_page()

    def _refresh_facets(self) -> None:
        self.counts.refresh_facets()

    def _update_progress(self) -> None:
        counts = self.counts.current
        if counts is None:
            self.status.show_progress(None, None)
        else:
            self.status.show_progress(counts.views["reviewed"], counts.views["all"])

    def _update_cap_label(self) -> None:
        self.status.show_cap(self.model.max_rows if self.model.capped else None)

    def _update_page(self) -> None:
        if self.database is None:
            return
        counts = self.counts.current
        if counts is not None and counts.total == 0:
            self.welcome.show_empty_database(self.database.display_name)
            self._set_page(WELCOME_PAGE)
        elif self.model.rowCount() == 0 and not self.model.loading and counts is not None:
            view = self.filter_bar.filter.view
            title, text = EMPTY_VIEW_TEXT[view]
            if counts.views["all"] == 0 or self.filter_bar.clear_button.isVisible():
                title, text = "No decisions match", "Change the search or clear the filters."
            self.empty_view.show_message(title, text, self.theme.icon("accept"))
            self._set_page(EMPTY_PAGE)
        else:
            self._set_page(TABLE_PAGE)
        self._update_queue_done()

    def _next_queue(self) -> tuple[str, Callable[[], None]] | None:
        """The queue to offer when this one is done: unreviewed work elsewhere."""
        counts, flt = self.counts.current, self.filter_bar.filter
        if counts is None:
            return None
        waiting = counts.views.get("unreviewed", 0)
        if flt.view != "unreviewed" and waiting:
            return (f"Next: Unreviewed ({waiting:,})",
                    lambda: self.filter_bar.set_view("unreviewed"))
        if self.filter_bar.clear_button.isVisible():
            return "Clear the filters", self.filter_bar.clear_facets
        return None

    def _update_queue_done(self) -> None:
        """"All done — next queue?" once every decision of a work view is reviewed."""
        counts, view = self.counts.current, self.filter_bar.filter.view
        done = (counts is not None and counts.left == 0 and self.database is not None
                and view in ("unreviewed", "incorrect", "all", FAILURES)
                and self.current_page() != WELCOME_PAGE and counts.total > 0)
        if not done:
            self.queue_done.hide()
            return
        assert counts is not None
        offered = self._next_queue()
        shown = self.model.rowCount()
        what = "Nothing left to review here." if view == "unreviewed" or not shown else (
            f"All done: every decision in {VIEW_LABELS[view]} is reviewed.")
        self.queue_done.show_done(f"✓ {what}", offered[0] if offered else None)

    def _go_to_next_queue(self) -> None:
        offered = self._next_queue()
        if offered is not None:
            offered[1]()

    # --- table and selection ---------------------------------------------------------

    def _on_reloaded(self, revision: int) -> None:
        self.live.seen(revision)
        self._update_cap_label()
        self._update_page()
        self.table.scrollToTop()
        target = self._select_after_refresh
        self._select_after_refresh = None
        if not self.select_decision(target):
            self.select_row(0)
            if self.model.rowCount() == 0:
                self._load_panel(None)

    def _on_refreshed(self, revision: int) -> None:
        self.live.seen(revision)
        self._update_cap_label()
        self._update_page()
        target = self._select_after_refresh
        self._select_after_refresh = None
        if target is not None:
            if not self.select_decision(target):
                self.table.clearSelection()
                self._load_panel(target, force=True)
            elif target == self.feed.shown_id:
                self._load_panel(target, force=True)
        elif not self.table.currentIndex().isValid() and self.model.rowCount():
            self.select_row(0)

    def _on_load_failed(self, error: BaseException) -> None:
        self._status(f"Cannot read decisions: {error}")
        self._update_page()

    def select_row(self, row: int) -> bool:
        """Select ``row`` of the table (and show it in the review panel)."""
        return self.table.select_row(row)

    def select_decision(self, decision_id: str | None) -> bool:
        """Select the row of ``decision_id`` if the table holds it."""
        return self.table.select_row(self.model.row_of(decision_id))

    def selected_decision_id(self) -> str | None:
        """The id of the selected row, or None."""
        return self.table.selected_decision_id()

    def select_next(self) -> None:
        """Move to the next decision in the table."""
        index = self.table.currentIndex()
        row = index.row() + 1 if index.isValid() else 0
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        self.select_row(min(row, self.model.rowCount() - 1))

    def select_previous(self) -> None:
        """Move to the previous decision in the table."""
        index = self.table.currentIndex()
        self.select_row(max(0, index.row() - 1) if index.isValid() else 0)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        decision_id = self.model.decision_id(current.row()) if current.isValid() else None
        if decision_id != self.feed.shown_id:
            self._load_panel(decision_id)

    def _load_panel(self, decision_id: str | None, *, force: bool = False) -> None:
        self.feed.show(decision_id, force=force)
        self._update_actions()

    @property
    def shown_decision(self) -> PolicyDecision | None:
        """The decision the review panel shows."""
        return self.feed.shown_decision

    # --- reviewing -------------------------------------------------------------------

    def reviewer_name(self) -> str:
        """The reviewer's name; asked for (and remembered) when not set yet."""
        if not self.settings.reviewer:
            name, ok = QInputDialog.getText(
                self, "Your name", "Your name is recorded with each review:",
                text=os.environ.get("USER", ""))
            if ok and name.strip():
                self.settings.reviewer = name.strip()
                self.settings.sync()
        return self.settings.reviewer

    def _on_submitted(self, submission: Any) -> None:
        """Write the review in the background and move on at once.

        The write is queued on the database thread (jobs run in order), so the
        reviewer never waits for it and the next key acts on the next decision.
        """
        if self.database is None:
            return
        decision_id = submission.decision_id
        if decision_id != self.feed.shown_id or self.review_session.writing(decision_id):
            return  # a decision the reviewer has moved away from, or already submitted
        reviewer = self.reviewer_name()
        if not reviewer:
            self._status("Not saved: a reviewer name is needed to record reviews")
            return
        self.review_session.begin([decision_id])
        self.feed.forget(decision_id)

        def job(log: PolicyDecisionLog) -> str:
            return log.mark_reviewed(decision_id, reviewer=reviewer,
                                     **submission.review_arguments())

        self.executor.submit(job, lambda action: self._on_reviewed(decision_id, action),
                             lambda error: self._on_write_failed(decision_id, error))
        self._return_focus_to_table()
        self._move_past(decision_id)
        self._update_actions()

    def _return_focus_to_table(self) -> None:
        """After a review, the keys belong to the review flow, not to a text field."""
        focus = self.focusWidget()
        if focus is not None and (focus is self.panel or self.panel.isAncestorOf(focus)):
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_reviewed(self, decision_id: str, action: str) -> None:
        self.review_session.written([decision_id])
        self.session.record_review()
        self.status.show_session()
        self._status(f"Saved: {action.replace('_', ' ')}", 2500)
        self.review_written.emit(decision_id, action)
        self._after_writes()

    def _on_write_failed(self, decision_id: str, error: BaseException) -> None:
        self.review_session.failed([decision_id])
        self._select_after_refresh = decision_id
        self._after_writes()
        self.show_message(QMessageBox.Icon.Warning, "Review not saved",
                          f"The review of {decision_id} could not be saved.", str(error))

    def _on_skipped(self) -> None:
        if self.feed.shown_id is not None:
            self._move_past(self.feed.shown_id)

    def _move_past(self, decision_id: str) -> None:
        row = self.model.row_of(decision_id)
        if row < 0:
            return
        if row + 1 < self.model.rowCount():
            self.select_row(row + 1)
        elif self.model.canFetchMore():
            self.model.fetchMore()

    def _after_writes(self) -> None:
        """Re-read rows and counts once the last queued write is done (one refresh, not ten).

        While review keys still wait for their decision, the re-read waits too: it
        would sit on the database thread between the keys and their decisions.
        """
        if self.review_session.busy:
            return
        if self._keys_waiting:
            self._refresh_after_keys = True
            return
        self._refresh_after_keys = False
        self._after_write()

    def _after_write(self) -> None:
        self.apply_changes(self.review_session.take_changes())
        self._update_actions()

    def apply_changes(self, changes: Changes) -> None:
        """Re-read what ``changes`` touched: the rows, then what depends on them."""
        if changes.rows:
            self.model.refresh()
        self._refresh_dependents(changes)

    def _refresh_dependents(self, changes: Changes) -> None:
        """The counts, filter menus and statistics that ``changes`` may alter."""
        if changes.empty:
            return
        if changes.rows:
            self._refresh_counts()
        if changes.facets:
            self._refresh_facets()
        self._statistics_dirty = True
        if changes.facets and self._statistics_visible():  # reviews are made off that tab
            self._refresh_statistics()

    def _when_shown(self, action: Callable[[], object]) -> Callable[[], None]:
        """A review key's handler: act now, or once the selected decision is on show.

        While the panel is still reading the decision the reviewer moved to, the
        key waits in order for it; it is never dropped or applied to the decision
        that happens to be drawn meanwhile.
        """
        def handler() -> None:
            if self._keys_waiting or self.feed.loading:
                self._keys_waiting.append(action)
            else:
                action()

        return handler

    def _run_waiting_keys(self) -> None:
        if self._draining_keys:
            return
        self._draining_keys = True
        try:
            while self._keys_waiting and not self.feed.loading:
                self._keys_waiting.pop(0)()
        finally:
            self._draining_keys = False
        if not self._keys_waiting and self._refresh_after_keys:
            self._after_writes()

    def _drop_waiting_keys(self, reason: str) -> None:
        if self._keys_waiting:
            count = len(self._keys_waiting)
            self._keys_waiting.clear()
            self._after_writes()
            self._status(f"{count} key press{'es' if count > 1 else ''} not applied: {reason}")

    def _accept_candidates(self) -> tuple[list[str], int]:
        """The selected rows that can be accepted (unreviewed, parseable); how many not."""
        chosen, skipped = [], 0
        for decision_id in self.table.selected_decision_ids():
            summary = self.model.summary(self.model.row_of(decision_id))
            if summary is None or summary.reviewed or summary.decision == "unparseable" \
                    or self.review_session.writing(decision_id):
                skipped += 1
            else:
                chosen.append(decision_id)
        return chosen, skipped

    def accept_selected(self) -> None:
        """Review → Accept all selected…: after a look, accept every selected decision.

        Only unreviewed, parseable rows are accepted; each is its own review (Ctrl+Z
        takes them back one by one). Not in blind review: there every decision needs
        the reviewer's own choice first.
        """
        if self.database is None or self.settings.blind_review:
            return
        chosen, skipped = self._accept_candidates()
        if not chosen:
            self._status("Nothing to accept: the selected decisions are reviewed already "
                         "or could not be parsed")
            return
        note = f"\n\n{skipped:,} selected decision{'s' if skipped != 1 else ''} already " \
               "reviewed or unparseable will be left as they are." if skipped else ""
        box = QMessageBox(QMessageBox.Icon.Question, "Accept the selected decisions",
                          f"Record \"accepted as correct\" for {len(chosen):,} decision"
                          f"{'s' if len(chosen) != 1 else ''}?{note}",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          self)
        box.setObjectName("acceptSelectedBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(button: Any) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self._accept_all(chosen)

        box.buttonClicked.connect(answered)
        self._keep(box).open()

    def _accept_all(self, decision_ids: list[str]) -> None:
        reviewer = self.reviewer_name()
        if not reviewer:
            self._status("Not saved: a reviewer name is needed to record reviews")
            return
        ids = self.review_session.begin(decision_ids)
        for decision_id in ids:
            self.feed.forget(decision_id)

        def job(log: PolicyDecisionLog) -> tuple[list[str], str | None]:
            written: list[str] = []
            for decision_id in ids:
                try:
                    log.mark_reviewed(decision_id, None, None, reviewer)
                except Exception as error:  # the rest stays unreviewed, and is told
                    return written, f"{decision_id}: {error}"
                written.append(decision_id)
            return written, None

        def done(outcome: tuple[list[str], str | None]) -> None:
            written, problem = outcome
            self.review_session.written(written)
            self.review_session.failed(ids[len(written):])
            for decision_id in written:
                self.session.record_review()
                self.review_written.emit(decision_id, "accept")
            self.status.show_session()
            self._status(f"Accepted {len(written):,} decisions", 2500)
            self._after_writes()
            if problem is not None:
                self.show_message(QMessageBox.Icon.Warning, "Not every review was saved",
                                  f"{len(written):,} of {len(ids):,} accepted; the rest was "
                                  "not saved.", problem)

        self.executor.submit(job, done)

    def undo_last_review(self) -> None:
        """Edit → Undo review: take back the last review made in this window."""
        if not self.review_session.can_undo or self.database is None:
            return
        decision_id = self.review_session.begin_undo()
        self.feed.forget(decision_id)
        reviewer = self.settings.reviewer or None

        def job(log: PolicyDecisionLog) -> PolicyDecision:
            return log.undo_review(decision_id, reviewer)

        def undone(_decision: PolicyDecision) -> None:
            self.review_session.undo_ended(decision_id)
            self.session.record_undo()
            self.status.show_session()
            self._select_after_refresh = decision_id
            self._after_writes()
            self._status("Review undone (the history keeps both entries)", 2500)
            self.review_undone.emit(decision_id)

        def failed(error: BaseException) -> None:
            self.review_session.undo_ended(decision_id)
            self._after_writes()
            self.show_message(QMessageBox.Icon.Warning, "Cannot undo",
                              f"The review of {decision_id} could not be undone.", str(error))

        self.executor.submit(job, undone, failed)
        self._update_actions()

    def _on_external_change(self, _revision: int) -> None:
        self.feed.forget()
        self.apply_changes(Changes.everything())

    def _update_actions(self) -> None:
        a = getattr(self, "actions_by_id", {})
        reviewing = not self._statistics_visible()  # no hidden reviews from the other tab
        has_decision = self.feed.shown_id is not None and reviewing
        for action_id in REVIEW_ACTIONS:
            if action_id in a:
                a[action_id].setEnabled(has_decision)
        has_rows = reviewing and self.current_page() == TABLE_PAGE
        for action_id in ("next", "previous"):
            if action_id in a:
                a[action_id].setEnabled(has_rows)
        if "undo" in a:
            a["undo"].setEnabled(self.review_session.can_undo)
        if "accept_selected" in a:
            several = len(self.table.selectionModel().selectedRows()) > 1
            a["accept_selected"].setEnabled(
                reviewing and several and not self.settings.blind_review)
        if "import_log" in a:
            a["import_log"].setEnabled(self.database is not None)

    # --- blind review, theme, preferences --------------------------------------------

    def _apply_blind(self, enabled: bool) -> None:
        """Blind review hides the answer everywhere: panel, table cells, facet, charts."""
        panel: Any = self.panel
        panel.set_blind_review(enabled)
        self.model.set_blind(enabled)
        self.filter_bar.set_blind(enabled)
        view = self.parts.statistics_view
        if view is not None:
            index = self.tabs.indexOf(view)
            if enabled and self.tabs.currentIndex() == index:
                self.tabs.setCurrentIndex(0)
            self.tabs.setTabEnabled(index, not enabled)
            self.tabs.setTabToolTip(index, "Hidden during blind review (Ctrl+B turns it off)"
                                    if enabled else "")
        self._update_actions()
        if "toggle_blind" in self.actions_by_id:
            self.actions_by_id["toggle_blind"].setChecked(enabled)

    def toggle_blind_review(self) -> None:
        """Review → Blind review: hide the model's answer until a decision is chosen."""
        self.settings.blind_review = not self.settings.blind_review
        self._apply_blind(self.settings.blind_review)
        state = "on" if self.settings.blind_review else "off"
        self._status(f"Blind review {state}", 2500)

    def toggle_dark_theme(self) -> None:
        """View → Dark theme."""
        self.set_theme("light" if self.theme.name == "dark" else "dark")

    def set_theme(self, name: str) -> None:
        """Switch to the ``light`` or ``dark`` theme and remember it."""
        self.settings.theme = name
        if name == self.theme.name:
            return
        self.theme = Theme(name)
        app = self._app()
        if app is not None:
            self.theme.apply(app)
        retint_icons(self.actions_by_id, self.theme)
        self.model.set_style(self.theme.row_style())
        self.filter_bar.set_search_icon(self.theme.icon("search"))
        self.actions_by_id["dark_theme"].setChecked(name == "dark")
        self._update_page()
        self.theme_changed.emit(name)

    @staticmethod
    def _app() -> Any:
        from PySide6.QtWidgets import QApplication

        return QApplication.instance()

    def show_preferences(self) -> None:
        """Edit → Preferences…"""
        dialog = PreferencesDialog(self.settings, self)
        dialog.accepted.connect(self._preferences_saved)
        self._keep(dialog)
        dialog.open()

    def _preferences_saved(self) -> None:
        self._apply_blind(self.settings.blind_review)
        self.set_theme(self.settings.theme)

    # --- import, run, help -----------------------------------------------------------

    def choose_files_to_import(self) -> None:
        """File → Import log…: pick JSONL files and import them in the background."""
        if self.database is None:
            return
        paths = choose_import_files(self)
        if paths:
            self.import_files(paths)

    @property
    def importing(self) -> bool:
        """Whether an import is under way."""
        return self._import is not None

    def import_files(self, paths: Sequence[Path]) -> None:
        """Import ``paths`` on the import thread with a cancellable progress dialog, then
        show the outcome."""
        if self.database is None or self._import is not None:
            return
        files = list(paths)
        names = ", ".join(path.name for path in files)
        self.actions_by_id["import_log"].setEnabled(False)
        self._import = ImportController(self.database.location, self)
        progress = ImportProgressDialog(names, self._import, self)

        def ended() -> None:
            progress.close()
            progress.deleteLater()
            if self._import is not None:
                self._import.shutdown()
                self._import.deleteLater()
                self._import = None
            self._update_actions()

        def done(result: ImportResult, cancelled: bool) -> None:
            ended()
            self._keep(ImportResultDialog(result, files, self, cancelled=cancelled)).open()
            self.apply_changes(IMPORTED)

        def failed(message: str) -> None:
            ended()
            self.apply_changes(IMPORTED)  # batches stored before the failure stay
            self.show_message(QMessageBox.Icon.Warning, "Import failed",
                              f"Could not import {names}", message)

        progress.finished_import.connect(done)
        progress.failed_import.connect(failed)
        progress.open()
        self._import.start(files)

    def _explain_run_command(self) -> None:
        database = self.database.display_name if self.database else default_database()
        self.show_message(
            QMessageBox.Icon.Information, "Run the quick suite",
            "This window has no run engine attached. Run the quick suite in a terminal:",
            f"policy-desktop run --db {database}\n\nIts decisions appear here within "
            "seconds, while it runs.")

    def show_shortcuts(self) -> None:
        """Help → Keyboard shortcuts."""
        if self.parts.shortcuts_dialog is None:
            return
        self._keep(self.parts.shortcuts_dialog(self)).open()

    def show_prompt_versions(self) -> None:
        """Runs → Prompt versions…: read a version's whole prompt."""
        from policy_desktop.ui.prompt_viewer import PromptViewer

        self._keep(PromptViewer(parent=self)).open()

    def show_statistics(self) -> None:
        """View → Statistics: switch to the statistics tab."""
        if self.parts.statistics_view is not None:
            self.tabs.setCurrentWidget(self.parts.statistics_view)

    def show_about(self) -> None:
        """Help → About."""
        from policy_desktop import __version__

        self.show_message(QMessageBox.Icon.Information, "About Policy Desktop",
                          f"Policy Desktop {__version__}",
                          "Log, run, review and export the access-policy decisions of a "
                          "local LLM.")

    def _statistics_visible(self) -> bool:
        view = self.parts.statistics_view
        return view is not None and self.tabs.currentWidget() is view

    def _on_tab_changed(self, _index: int) -> None:
        self._update_actions()
        if self._statistics_visible() and self._statistics_dirty:
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        collect, view = self.parts.collect_statistics, self.parts.statistics_view
        if collect is None or view is None or self.database is None:
            return
        self._statistics_dirty = False
        target: Any = view
        self.executor.submit(collect, target.set_data,
                             lambda e: self._status(f"Cannot compute statistics: {e}"))

    # --- messages and lifetime -------------------------------------------------------

    def show_message(self, icon: QMessageBox.Icon, title: str, text: str,
                     details: str = "") -> QMessageBox:
        """A window-modal message box that does not block (``open``, not ``exec``).

        Everything goes into the plain-text main label: the informative text of a
        QMessageBox would guess rich text, and details may quote file names or data.
        """
        body = f"{text}\n\n{details}" if details else text
        box = QMessageBox(icon, title, body, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        self._keep(box).open()
        return box

    def _keep(self, dialog: QWidget) -> QWidget:
        self.dialogs.append(dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def forget(*_args: object) -> None:
            if dialog in self.dialogs:
                self.dialogs.remove(dialog)

        if isinstance(dialog, QDialog):
            dialog.finished.connect(forget)
        return dialog

    def _status(self, text: str, timeout: int = STATUS_MESSAGE_MS) -> None:
        self.statusBar().showMessage(text, timeout)

    def _update_title(self) -> None:
        if self.database is None:
            self.setWindowTitle(APP_TITLE)
        else:
            self.setWindowTitle(f"{self.database.display_name} — {APP_TITLE}")

    def show_confusion_cell(self, expected: str, decided: str) -> None:
        """Statistics → a confusion-matrix cell: the table of those decisions."""
        self.tabs.setCurrentWidget(self.review_pages)
        self.filter_bar.show_cell(expected, decided)

    def show_run_failures(self, run_id: str) -> None:
        """Show one run's failures (the run dialog's "Review failures"): what its table
        marks FAIL, with the pass threshold the run recorded."""
        fallback = self.settings.coverage_threshold

        def job(log: PolicyDecisionLog) -> float:
            run = log.get_run(run_id)
            value = run.settings.get("pass_coverage") if run is not None else None
            return float(value) if isinstance(value, int | float) else fallback

        def show(pass_coverage: float) -> None:
            self.filter_bar.show_run(run_id, view=FAILURES, pass_coverage=pass_coverage)

        self.executor.submit(job, show, lambda _error: show(fallback))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.parts.loop is not None and not self.parts.loop.may_close():
            event.ignore()
            return
        if self._import is not None:  # stops after the line being read; stored batches stay
            self._import.shutdown()
            self._import = None
        self.live.stop()
        self.status.stop()
        self.guard.stop()
        self.save_state()
        super().closeEvent(event)
