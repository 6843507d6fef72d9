"""The main window: the decisions table with its filters, the review panel, statistics.

The window lays out the parts and turns actions into calls; it never runs a query
itself. Every database call goes through the :class:`DbExecutor`, and every write or
outside change reaches the table, the panel's read-ahead, the counts, the status bar
and the statistics as one ``ReviewWrites.changed`` they each subscribe to. The review
panel, statistics view and shortcut list are built by the caller (``app.py``) and
passed in as :class:`WindowParts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from policy_desktop.paths import default_database
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.queries import FAILURES, VIEWS, DecisionFilter
from policy_desktop.ui.accept_selected import AcceptSelected
from policy_desktop.ui.assign_filter import AssignFilter
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.database_session import DatabaseSession
from policy_desktop.ui.decisions_model import MAX_ROWS, PAGE_SIZE, DecisionsModel
from policy_desktop.ui.file_dialogs import open_file_name, save_file_name
from policy_desktop.ui.filter_bar import SORT_LABELS, VIEW_LABELS
from policy_desktop.ui.help_actions import HelpActions
from policy_desktop.ui.import_dialog import choose_import_files
from policy_desktop.ui.import_flow import ImportFlow
from policy_desktop.ui.live_updates import POLL_INTERVAL_MS, LiveUpdates
from policy_desktop.ui.panel_feed import PanelFeed
from policy_desktop.ui.preferences_dialog import PreferencesDialog
from policy_desktop.ui.queue_desk import QueueDesk
from policy_desktop.ui.queue_flow import CONFLICTS, QueueFlow
from policy_desktop.ui.review_pages import EMPTY_PAGE, TABLE_PAGE, WELCOME_PAGE
from policy_desktop.ui.review_tab import ReviewTab
from policy_desktop.ui.review_writes import ReviewWrites
from policy_desktop.ui.selection_keeper import SelectionKeeper
from policy_desktop.ui.session_progress import SessionProgress
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.statistics_feed import StatisticsFeed
from policy_desktop.ui.status_bar import ReviewStatusBar
from policy_desktop.ui.tasks import DbExecutor, OpenedDatabase
from policy_desktop.ui.theme import Theme
from policy_desktop.ui.view_counts import ViewCounts
from policy_desktop.ui.waiting_keys import WaitingKeys
from policy_desktop.ui.window_actions import (
    LOOP_ACTIONS,
    SingleKeyGuard,
    WindowState,
    build_actions,
    build_menus,
    enable_actions,
    retint_icons,
    single_key_sequences,
    window_key_sequences,
)
from policy_desktop.ui.window_dialogs import W, WindowDialogs, reviewer_name
from policy_desktop.ui.window_parts import WindowParts
from policy_desktop.ui.window_state import restore_window_state, save_window_state
from policy_desktop.vocabulary import DECISIONS

__all__ = ["EMPTY_PAGE", "TABLE_PAGE", "WELCOME_PAGE", "MainWindow", "WindowParts"]

APP_TITLE = "Policy Desktop"
STATUS_MESSAGE_MS = 6000
IMPORTED = Changes(decisions=True, reviews=True)  # an import stores decisions, merges reviews


def _call_method(target: object, name: str) -> None:
    """Call ``target.name()``, looked up when the action fires (a loop may offer fewer)."""
    getattr(target, name)()


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
        self.session = SessionProgress()
        self.dialogs = WindowDialogs(self)  # open non-modal dialogs (kept alive)
        self.help = HelpActions(self, self.dialogs, parts.shortcuts_dialog)
        self.imports = ImportFlow(self, self._keep, lambda title, text, details: self.show_message(
            QMessageBox.Icon.Warning, title, text, details))

        self.databases = DatabaseSession(executor, settings, self)
        self.model = DecisionsModel(executor, page_size=page_size, max_rows=max_rows,
                                    parent=self)
        self.model.set_style(theme.row_style())
        self.live = LiveUpdates(executor, poll_interval_ms, self)
        self.counts = ViewCounts(executor, lambda: self.filter_bar.filter, self)
        self.feed = PanelFeed(executor, self.model, self.panel, self._status, self)
        self.keys = WaitingKeys(self.feed, self)
        self.writes = ReviewWrites(executor, lambda: self.keys.waiting, self)
        self.review_session = self.writes.session  # undo, the write guard

        self._build_central()
        self._build_status_bar()
        self.actions_by_id = build_actions(self, parts.shortcuts, self._handlers(), theme)
        self.view_actions, self.sort_actions, self.toolbar = build_menus(
            self, self.actions_by_id, {name: VIEW_LABELS[name] for name in VIEWS},
            self.filter_bar.set_view, SORT_LABELS, self.filter_bar.set_sort)
        self._sync_menu_checks()
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
        self.review_pages = ReviewTab(self.model, self.panel)
        tab = self.review_pages
        self.filter_bar, self.table, self.queue_done = tab.filter_bar, tab.table, tab.queue_done
        self.pages, self.empty_view, self.splitter = tab.pages, tab.empty_view, tab.splitter
        self.welcome = tab.welcome
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(tab, "Review")
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
        when_shown = self.keys.when_shown
        handlers: dict[str, Callable[[], object]] = {
            "accept": when_shown(panel.accept),
            "commit": when_shown(panel.commit),
            "skip": when_shown(panel.skip),
            "focus_reasoning": when_shown(panel.focus_reasoning),
            "undo": self.undo_last_review,
            "toggle_blind": self.toggle_blind_review,
            "team_queue": lambda: self.queue.set_enabled(not self.queue.desk.enabled),
            "assign_filter": self.assign_filter,
            "next": self.select_next,
            "previous": self.select_previous,
            "search": self.filter_bar.focus_search,
            "show_shortcuts": self.help.show_shortcuts,
            "quit": self.close,
            "open_database": self.choose_database_to_open,
            "new_database": self.choose_database_to_create,
            "import_log": self.choose_files_to_import,
            "preferences": self.show_preferences,
            "refresh": self.reload,
            "dark_theme": self.toggle_dark_theme,
            "statistics": self.show_statistics,
            "about": self.help.show_about,
            "prompt_versions": self.help.show_prompt_versions,
            "accept_selected": self.accept_selected,
        }
        names = ("choose_allow", "choose_deny", "choose_attestation", "choose_mfa")
        for action_id, decision in zip(names, DECISIONS, strict=True):
            handlers[action_id] = when_shown(partial(panel.choose_decision, decision))
        if self.parts.statistics_view is None:
            del handlers["statistics"]
        loop = self.parts.loop
        if loop is not None:  # looked up when triggered: a loop may offer fewer dialogs
            handlers.update({action_id: partial(_call_method, loop, method)
                             for action_id, method in LOOP_ACTIONS.items()})
        return handlers

    def _connect(self) -> None:
        panel: Any = self.panel
        panel.submitted.connect(self._on_submitted)
        panel.skipped.connect(self._on_skipped)
        if hasattr(panel, "revealed"):
            panel.revealed.connect(self.model.reveal)
        self.filter_bar.filter_changed.connect(self._on_filter_changed)
        self.status.follow(self.counts, self.model, self.writes)
        for signal in (self.model.reloaded, self.model.refreshed):
            signal.connect(self.live.seen)
            signal.connect(self._update_page)
        self.model.load_failed.connect(self._on_load_failed)
        # After the window's own slots: the selection moves once the page is chosen.
        self.selection = SelectionKeeper(self.table, self.feed, self._load_panel, self)
        self.queue = QueueFlow(self.executor, QueueDesk(self.executor, parent=self),
                               self.selection, self.feed, panel, self.review_pages.queue_bar,
                               lambda: self.filter_bar.filter, self.reviewer_name,
                               lambda: self.settings.reviewer,
                               lambda: self.settings.blind_review, self._status, self)
        self.queue.enabled_changed.connect(self.actions_by_id["team_queue"].setChecked)
        self.queue.desk.current_changed.connect(lambda _claim: self._update_actions())
        self.accepting = AcceptSelected(self, self.table, self.writes, self.feed, self.dialogs,
                                        self.reviewer_name, self._status)
        self.assigning = AssignFilter(self.executor, self, self.dialogs, self)
        self.assigning.assigned.connect(lambda: self.queue.sync(restart=True))
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self._update_actions())
        self.table.horizontalHeader().sectionClicked.connect(self._on_header_clicked)
        self._subscribe()
        self.counts.changed.connect(lambda counts: self.filter_bar.set_counts(counts.views))
        self.counts.changed.connect(self._update_page)  # after the filter bar: the page reads it
        self.counts.facets_changed.connect(self.filter_bar.set_facets)
        self.counts.failed.connect(self._status)
        self.live.failed.connect(lambda e: self._status(f"Cannot check for updates: {e}"))
        self.executor.unhandled_error.connect(lambda e: self._status(f"Database error: {e}"))
        self.databases.opening.connect(lambda shown: self._status(f"Opening {shown}…", 0))
        self.databases.opened.connect(self._on_opened)
        self.imports.ended.connect(self._update_actions)
        self.imports.imported.connect(lambda: self.writes.publish(IMPORTED))
        self.databases.open_failed.connect(self._on_open_failed)
        self.welcome.run_quick_suite_requested.connect(self.run_quick_suite_requested)
        self.welcome.import_requested.connect(self.choose_files_to_import)
        self.welcome.open_requested.connect(self.choose_database_to_open)
        self.welcome.new_requested.connect(self.choose_database_to_create)
        for name, slot in (("cell_clicked", self.show_confusion_cell),
                           ("decision_clicked", self.show_decision_bar),
                           ("review_type_clicked", self.show_review_type_bar)):
            clicked = getattr(self.parts.statistics_view, name, None)
            if clicked is not None:
                clicked.connect(slot)
        if self.parts.loop is not None:
            self.parts.loop.attach(self)
        else:  # a window without the run machinery (tests): explain the terminal command
            self.run_quick_suite_requested.connect(self._explain_run_command)
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _subscribe(self) -> None:
        """Everything that shows data re-reads its part of each change, in this order:
        the panel's read-ahead, the rows, the counts and menus, the statistics."""
        writes = self.writes
        writes.written.connect(self.review_written)
        writes.undone.connect(self.review_undone)
        writes.reselect.connect(self.selection.select_after_refresh)
        writes.notice.connect(self._status)
        writes.failed.connect(lambda title, text, details: self.show_message(
            QMessageBox.Icon.Warning, title, text, details))
        writes.conflicted.connect(self.queue.conflicted)
        self.keys.drained.connect(writes.keys_drained)
        self.keys.dropped.connect(lambda _reason: writes.settle())
        self.keys.dropped.connect(self._status)
        self.live.changed.connect(lambda _revision: writes.publish(Changes.everything()))
        writes.changed.connect(self.feed.apply)
        writes.changed.connect(lambda c: self.table.apply_changes(c, self.filter_bar.filter))
        writes.changed.connect(self.counts.apply)
        self.statistics: StatisticsFeed | None = None
        if self.parts.statistics_view is not None and self.parts.collect_statistics:
            self.statistics = StatisticsFeed(self.executor, self.parts.statistics_view,
                                             self.parts.collect_statistics,
                                             self._statistics_visible, self._status, self)
            writes.changed.connect(self.statistics.apply)
        writes.changed.connect(lambda _c: self.queue.desk.recount())
        writes.changed.connect(lambda _c: self._update_actions())

    def _restore_state(self) -> None:
        restore_window_state(self.settings, self, self.splitter,
                             self.table.horizontalHeader())
        self.table.show_sort(self.filter_bar.filter.sort)

    def save_state(self) -> None:
        """Remember geometry, splitter and column widths."""
        save_window_state(self.settings, self, self.splitter, self.table.horizontalHeader())

    # --- database --------------------------------------------------------------------

    @property
    def database(self) -> OpenedDatabase | None:
        """The open database (None before the first open succeeded)."""
        return self.databases.current

    @property
    def read_only(self) -> bool:
        """Whether the open database is read-only here (reviews cannot be saved)."""
        return self.database is not None and self.database.read_only

    def open_database(self, database: str | None, *, create: bool = True,
                      remember: bool = False) -> None:
        """Open ``database`` (None: the default) on the database thread.

        On failure a dialog names the file and the window stays usable: the
        previous database (if any) stays open, else the welcome panel offers
        File → Open database… and New database….
        """
        self.queue.stop()  # the claims are given back on the database they were made on
        self.databases.open(database, create=create, remember=remember)

    def _on_opened(self, info: OpenedDatabase) -> None:
        self.live.reset()
        self._update_title()
        self.statusBar().clearMessage()
        if info.backup_path is not None:
            self._status(f"Upgraded the database; the old file is kept as {info.backup_path}")
        self.status.show_read_only(info.read_only)
        panel: Any = self.panel
        panel.set_read_only(info.read_only)
        self._load_panel(None)
        self.writes.publish(Changes.database_opened())  # every view starts again
        if not info.read_only:
            self.queue.database_opened()
        elif self.queue.desk.enabled:
            self.queue.set_enabled(False)  # claims are writes
        self.live.start()
        self._update_actions()
        self.database_opened.emit(info.display_name)

    def _on_open_failed(self, shown: str, reason: str) -> None:
        self.statusBar().clearMessage()
        self.show_message(QMessageBox.Icon.Warning, "Cannot open database",
                          f"Could not open the database\n{shown}", reason)
        if self.database is None:
            self._show_no_database(f"Could not open {shown}.\n{reason}")

    def choose_database_to_open(self) -> None:
        """File → Open database…"""
        name = open_file_name(
            self, "Open database", self.databases.folder(),
            "Decision databases (*.db *.sqlite *.sqlite3);;All files (*)")
        if name:
            self.open_database(name, create=False, remember=True)

    def choose_database_to_create(self) -> None:
        """File → New database…"""
        name = save_file_name(
            self, "New database", self.databases.folder(), "Decision databases (*.db)")
        if not name:
            return
        path = Path(name)
        if path.exists() and path.stat().st_size > 0:
            self.show_message(QMessageBox.Icon.Warning, "Cannot create database",
                              f"{path} already exists.",
                              "Choose File → Open database… to open it.")
            return
        self.open_database(str(path), create=True, remember=True)

    def reload(self) -> None:
        """View → Reload: read rows, counts and menus again."""
        if self.database is None:
            return
        self.model.reload()
        self.counts.refresh()
        self.counts.refresh_facets()

    # --- filters, counts, pages ------------------------------------------------------

    def _on_filter_changed(self, flt: DecisionFilter) -> None:
        previous = self.model.filter
        self._sync_menu_checks()
        self.table.show_sort(flt.sort)
        if self.database is None:
            return
        self.model.set_filter(flt)
        if replace(previous, sort=flt.sort) != flt:  # the order changes no count
            self.counts.refresh()
        self.queue.sync(restart=True)  # another filter: the claims are given back

    def _sync_menu_checks(self) -> None:
        flt = self.filter_bar.filter
        for name, action in self.view_actions.items():
            action.setChecked(name == flt.view)
        for name, action in self.sort_actions.items():
            action.setChecked(name == flt.sort)

    def _on_header_clicked(self, section: int) -> None:
        sort = self.table.sort_for_click(section, self.filter_bar.filter.sort)
        if sort is None:
            self.table.show_sort(self.filter_bar.filter.sort)
            self._status("Sort by time or confidence: click those column headers")
        else:
            self.filter_bar.set_sort(sort)

    def _show_no_database(self, reason: str) -> None:
        self.welcome.show_no_database(reason)
        self._set_page(WELCOME_PAGE)

    def _set_page(self, page: int) -> None:
        """Show the table, the welcome panel or the empty-view message."""
        self.review_pages.set_page(page)
        self.status.set_reviewing(page != WELCOME_PAGE)
        self._update_actions()

    def current_page(self) -> int:
        """:data:`TABLE_PAGE`, :data:`WELCOME_PAGE` or :data:`EMPTY_PAGE`."""
        return self.review_pages.current_page()

    def _update_page(self, *_args: object) -> None:
        if self.database is None:
            return
        self._set_page(self.review_pages.choose(self.counts.current, self.database.display_name,
                                                self.theme.icon("accept")))
        self.review_pages.update_queue_done()

    def _on_load_failed(self, error: BaseException) -> None:
        self._status(f"Cannot read decisions: {error}")
        self._update_page()

    # --- table and selection ---------------------------------------------------------

    def select_row(self, row: int) -> bool:
        """Select ``row`` of the table (and show it in the review panel)."""
        return self.selection.select_row(row)

    def select_decision(self, decision_id: str | None) -> bool:
        """Select the row of ``decision_id`` if the table holds it."""
        return self.selection.select_decision(decision_id)

    def selected_decision_id(self) -> str | None:
        """The id of the selected row, or None."""
        return self.table.selected_decision_id()

    def select_next(self) -> None:
        """Move to the next decision in the table."""
        self.selection.select_next()

    def select_previous(self) -> None:
        """Move to the previous decision in the table."""
        self.selection.select_previous()

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
        return reviewer_name(self, self.settings)

    def _on_submitted(self, submission: Any) -> None:
        """Write the review in the background and move on at once.

        The write is queued on the database thread (jobs run in order), so the
        reviewer never waits for it and the next key acts on the next decision.
        """
        if self.database is None:
            return
        decision_id = submission.decision_id
        if decision_id != self.feed.shown_id or self.writes.writing(decision_id):
            return  # a decision the reviewer has moved away from, or already submitted
        reviewer = self.reviewer_name()
        if not reviewer:
            self._status("Not saved: a reviewer name is needed to record reviews")
            return
        self.feed.forget(decision_id)
        arguments = submission.review_arguments()
        self.writes.review(decision_id, reviewer, arguments, conflicts=CONFLICTS,
                           write=self.queue.write_for(decision_id, arguments))
        self._return_focus_to_table()
        if not self.queue.moved_on(decision_id):
            self.selection.move_past(decision_id)
        self._update_actions()

    def _return_focus_to_table(self) -> None:
        """After a review, the keys belong to the review flow, not to a text field."""
        focus = self.focusWidget()
        if focus is not None and (focus is self.panel or self.panel.isAncestorOf(focus)):
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_skipped(self) -> None:
        shown = self.feed.shown_id
        if shown is not None and not self.queue.moved_on(shown, skipped=True):
            self.selection.move_past(shown)

    def accept_selected(self) -> None:
        """Review → Accept all selected…: accept every selected unreviewed decision."""
        if self.database is not None and not self.settings.blind_review:
            self.accepting.ask()

    def assign_filter(self) -> None:
        """Review → Assign this filter to a reviewer…: delegate its unreviewed decisions."""
        if self.database is not None and (by := self.reviewer_name()):
            self.assigning.ask(self.filter_bar.filter, by)

    def undo_last_review(self) -> None:
        """Edit → Undo review: take back the last review made in this window."""
        if self.database is None:
            return
        decision_id = self.writes.undo(self.settings.reviewer or None)
        if decision_id is not None:
            self.feed.forget(decision_id)
            self._update_actions()

    def _update_actions(self) -> None:
        if not hasattr(self, "actions_by_id"):
            return  # still being built
        reviewing = not self._statistics_visible()
        enable_actions(self.actions_by_id, WindowState(
            reviewing=reviewing, has_decision=self.feed.shown_id is not None,
            has_rows=self.current_page() == TABLE_PAGE, can_undo=self.review_session.can_undo,
            several_selected=len(self.table.selectionModel().selectedRows()) > 1,
            blind=self.settings.blind_review, has_database=self.database is not None,
            writable=not self.read_only))

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
        return self.imports.importing

    def import_files(self, paths: Sequence[Path]) -> None:
        """Import ``paths`` on the import thread with a cancellable progress dialog, then
        show the outcome."""
        if self.database is None or self.imports.importing:
            return
        self.actions_by_id["import_log"].setEnabled(False)
        self.imports.start(self.database.location, paths)

    def _explain_run_command(self) -> None:
        self.help.explain_run_command(
            self.database.display_name if self.database else default_database())

    def show_statistics(self) -> None:
        """View → Statistics: switch to the statistics tab."""
        if self.parts.statistics_view is not None:
            self.tabs.setCurrentWidget(self.parts.statistics_view)

    def _statistics_visible(self) -> bool:
        view = self.parts.statistics_view
        return view is not None and self.tabs.currentWidget() is view

    def _on_tab_changed(self, _index: int) -> None:
        self._update_actions()
        if self.statistics is not None:
            self.statistics.shown()

    # --- messages and lifetime -------------------------------------------------------

    def show_message(self, icon: QMessageBox.Icon, title: str, text: str,
                     details: str = "") -> QMessageBox:
        """A window-modal, plain-text message box that does not block."""
        return self.dialogs.message(icon, title, text, details)

    def _keep(self, dialog: W) -> W:
        return self.dialogs.keep(dialog)

    def _status(self, text: str, timeout: int = STATUS_MESSAGE_MS) -> None:
        self.statusBar().showMessage(text, timeout)

    def _update_title(self) -> None:
        if self.database is None:
            self.setWindowTitle(APP_TITLE)
        else:
            state = " (read-only)" if self.database.read_only else ""
            self.setWindowTitle(f"{self.database.display_name}{state} — {APP_TITLE}")

    def show_confusion_cell(self, expected: str, decided: str) -> None:
        """Statistics → a confusion-matrix cell: the table of those decisions."""
        self.tabs.setCurrentWidget(self.review_pages)
        self.filter_bar.show_cell(expected, decided)

    def show_decision_bar(self, decision: str) -> None:
        """Statistics → a bar of the decision distribution: those production decisions."""
        self.tabs.setCurrentWidget(self.review_pages)
        self.filter_bar.show_bar(decision=decision)

    def show_review_type_bar(self, action: str) -> None:
        """Statistics → a bar of the reviews by change type: the decisions it counts."""
        self.tabs.setCurrentWidget(self.review_pages)
        self.filter_bar.show_bar(review_action=action)

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
        self.imports.shutdown()
        self.queue.desk.stop_now()  # the claims go back before the database thread ends
        self.live.stop()
        self.status.stop()
        self.guard.stop()
        self.save_state()
        super().closeEvent(event)
