"""Fixtures for the main-window tests: a real log on either backend, the real window, a
clean teardown.

Every UI test is strict: any Qt warning fails it (``qt_log_level_fail``). ``ui_db`` is the
test's log location (``store_location``: a SQLite file, or a fresh database on the
PostgreSQL test server); a UI test that asks for ``db_path`` (a SQLite file path: file
dialogs, locks, backups, the file's bytes) is about the SQLite file and marked
``sqlite_file``, so it is skipped on a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from window_helpers import wait_idle

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.main_window import MainWindow, WindowParts
from policy_desktop.ui.review_panel import ReviewPanel
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, is_text_input
from policy_desktop.ui.tasks import DbExecutor
from policy_desktop.ui.theme import Theme

# The offscreen platform's own notes, not defects of the app.
OFFSCREEN_NOTES = ("propagateSizeHints", "does not support raise")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Qt warning fails every UI test (the offscreen plugin's known notes aside);
    a test on a SQLite path is marked ``sqlite_file``."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOTES))
            if "db_path" in item.fixturenames:
                item.add_marker(pytest.mark.sqlite_file)


@pytest.fixture(autouse=True)
def instant_clicks(qapp: Any) -> Iterator[None]:
    """Clicks right after a decision appears count (the panel drops them within the
    double-click interval, as a person's second click); tests that check that set it."""
    before = qapp.doubleClickInterval()
    qapp.setDoubleClickInterval(0)
    yield
    qapp.setDoubleClickInterval(before)


@pytest.fixture
def ui_db(store_location: str) -> str:
    """The test's log: a SQLite file, or a fresh database on the PostgreSQL test server."""
    return store_location


@pytest.fixture
def log(ui_db: str) -> Iterator[PolicyDecisionLog]:
    """The test's database (``ui_db``), opened on the test's thread."""
    with PolicyDecisionLog(ui_db) as opened:
        yield opened


@pytest.fixture
def controller() -> Iterator[RunController]:
    """The run thread; it must stop at teardown."""
    runs = RunController()
    yield runs
    assert runs.shutdown(), "the run thread did not stop"


@pytest.fixture
def executor() -> Iterator[DbExecutor]:
    """The database thread; shut down (joined) at teardown."""
    worker = DbExecutor()
    yield worker
    worker.shutdown()


@pytest.fixture
def settings() -> Settings:
    """Settings in the test's own config folder, with a reviewer already named."""
    value = Settings()
    value.reviewer = "tess"
    return value


def real_parts() -> WindowParts:
    """The other engineer's review panel, shortcut list and help dialog."""
    return WindowParts(review_panel=ReviewPanel(), shortcuts=SHORTCUTS,
                       is_text_input=is_text_input,
                       shortcuts_dialog=lambda parent: ShortcutsDialog(parent, SHORTCUTS))


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot, settings: Settings,
                executor: DbExecutor) -> Iterator[WindowFactory]:
    """Build the main window on a database and wait until its first rows are shown.

    At teardown every window is closed and the database thread joined.
    """
    windows: list[MainWindow] = []

    def build(database: Path | str | None, *, wait: bool = True,
              parts: WindowParts | None = None, **options: Any) -> MainWindow:
        options.setdefault("poll_interval_ms", 100)
        window = MainWindow(settings, executor, Theme(settings.theme), parts or real_parts(),
                            **options)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.open_database(None if database is None else str(database))
        if wait:
            wait_idle(qtbot, window)
        return window

    yield build
    for window in windows:
        window.close()
    executor.shutdown()
    for window in windows:
        window.deleteLater()
