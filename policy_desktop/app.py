"""The desktop app's composition root: QApplication, settings, theme, database thread, window.

Every long-lived object is built here once and passed to whoever needs it.
Importing this module loads Qt and the store only (never torch or llama_cpp).
"""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from policy_desktop.desktop_entry import APP_ID, WM_CLASS
from policy_desktop.engine.embedding_process import ProcessEmbedder  # torch only in its child
from policy_desktop.ui.loop_actions import ReviewLoop
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.tasks import DbExecutor
from policy_desktop.ui.theme import Theme

APP_NAME = "Policy Desktop"


def default_parts(loop: ReviewLoop | None = None) -> WindowParts:
    """The review panel, statistics view, shortcut list and run/export loop of the real app."""
    from policy_desktop.store.team_statistics import collect_statistics_with_team
    from policy_desktop.ui.review_panel import ReviewPanel
    from policy_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, is_text_input
    from policy_desktop.ui.statistics_view import StatisticsView

    return WindowParts(
        review_panel=ReviewPanel(), shortcuts=SHORTCUTS, is_text_input=is_text_input,
        statistics_view=StatisticsView(), collect_statistics=collect_statistics_with_team,
        shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS), loop=loop)


def application() -> QApplication:
    """The QApplication (created on first use) with the app's names set."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "policy-desktop"])
    app.setApplicationName(WM_CLASS)  # X11 WM_CLASS, matches StartupWMClass
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("policy-desktop")
    app.setDesktopFileName(APP_ID)  # Wayland app id = the .desktop file's name
    return app


def build_window(settings: Settings, executor: DbExecutor, app: QApplication,
                 parts: WindowParts | None = None,
                 loop: ReviewLoop | None = None) -> MainWindow:
    """Apply the saved theme and build the main window (no database opened yet)."""
    theme = Theme(settings.theme)
    theme.apply(app)
    return MainWindow(settings, executor, theme, parts or default_parts(loop))


def _quit_on_ctrl_c(app: QApplication, window: MainWindow) -> QTimer:
    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(app)  # lets Python run its signal handlers while Qt's loop runs
    timer.start(300)
    timer.timeout.connect(lambda: None)
    return timer


def main(database: str | None = None) -> int:
    """Open the main window on ``database`` (None: the saved or default one); run the app."""
    logging.basicConfig(level=logging.WARNING, format="policy-desktop: %(message)s")
    app = application()
    settings = Settings()
    executor = DbExecutor()
    embeddings = ProcessEmbedder()  # one embedding child for every worker, on first use
    runs = RunController(embedder=embeddings)  # the model stays loaded between runs
    loop = ReviewLoop(runs, settings, embed=embeddings.encode)  # the export embeds there too
    window = build_window(settings, executor, app, loop=loop)
    _timer = _quit_on_ctrl_c(app, window)
    window.show()
    window.open_database(database or settings.database)
    try:
        return app.exec()
    finally:
        runs.shutdown()  # cancels a run still going and frees the model
        embeddings.close()  # after the workers that use it
        executor.shutdown()
