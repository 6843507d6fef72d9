"""Which database the window works on, opened on the database thread.

A failed open leaves the previous database in use; the window's file dialogs start in
:meth:`DatabaseSession.folder`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from policy_desktop.paths import default_database
from policy_desktop.store import mask_passwords
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.tasks import DbExecutor, OpenedDatabase


class DatabaseSession(QObject):
    """The open database (:attr:`current`) and how another one is opened.

    Signals:
        opening(str): a database is being opened (its name, passwords masked).
        opened(OpenedDatabase): it is open; every later job uses it.
        open_failed(str, str): it could not be opened (its masked name, the reason);
            the previous one, if any, stays open.
    """

    opening = Signal(str)
    opened = Signal(object)
    open_failed = Signal(str, str)

    def __init__(self, executor: DbExecutor, settings: Settings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._settings = settings
        self.current: OpenedDatabase | None = None

    def open(self, database: str | None, *, create: bool = True,
             remember: bool = False) -> None:
        """Open ``database`` (None: the default) on the database thread; ``remember``
        makes it the one the app opens next time."""
        shown = mask_passwords(database or default_database())
        self.opening.emit(shown)

        def opened(info: OpenedDatabase) -> None:
            self.current = info
            if remember:
                self._settings.database = info.location
            self.opened.emit(info)

        def failed(error: BaseException) -> None:
            self.open_failed.emit(shown, mask_passwords(str(error)))

        self._executor.open(database, create=create, on_done=opened, on_error=failed)

    def folder(self) -> str:
        """Where the file dialogs start: the open database's folder, else the default's."""
        if self.current is not None and self.current.display_name:
            return str(Path(self.current.display_name).expanduser().parent)
        return str(Path(default_database()).parent)
