"""File → Import log… as one flow: the import thread, its cancellable progress dialog,
then the outcome (or the failure) told, and what was stored published."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from policy_desktop.store.jsonl import ImportResult
from policy_desktop.ui.import_dialog import ImportProgressDialog, ImportResultDialog
from policy_desktop.ui.import_worker import ImportController


class ImportFlow(QObject):
    """One import at a time for a window.

    Args:
        window: the dialogs' parent.
        keep: keeps a non-modal dialog alive while it is open (returns it).
        warn: shows a failure (title, text, details).

    Signals:
        ended(): the import stopped (finished, cancelled or failed).
        imported(): batches may have been stored (after the outcome is on show).
    """

    ended = Signal()
    imported = Signal()

    def __init__(self, window: QWidget, keep: Callable[[Any], Any],
                 warn: Callable[[str, str, str], object]) -> None:
        super().__init__(window)
        self._window = window
        self._keep = keep
        self._warn = warn
        self._controller: ImportController | None = None

    @property
    def importing(self) -> bool:
        """Whether an import is under way."""
        return self._controller is not None

    def start(self, location: str, paths: Sequence[Path]) -> None:
        """Import ``paths`` into the database at ``location`` (nothing while one runs)."""
        if self._controller is not None:
            return
        files = list(paths)
        names = ", ".join(path.name for path in files)
        self._controller = ImportController(location, self)
        progress = ImportProgressDialog(names, self._controller, self._window)

        def ended() -> None:
            progress.close()
            progress.deleteLater()
            if self._controller is not None:
                self._controller.shutdown()
                self._controller.deleteLater()
                self._controller = None
            self.ended.emit()

        def done(result: ImportResult, cancelled: bool) -> None:
            ended()
            self._keep(ImportResultDialog(result, files, self._window,
                                          cancelled=cancelled)).open()
            self.imported.emit()

        def failed(message: str) -> None:
            ended()
            self.imported.emit()  # batches stored before the failure stay
            self._warn("Import failed", f"Could not import {names}", message)

        progress.finished_import.connect(done)
        progress.failed_import.connect(failed)
        progress.open()
        self._controller.start(files)

    def shutdown(self) -> None:
        """Stop after the line being read (the window closes); stored batches stay."""
        if self._controller is not None:
            self._controller.shutdown()
            self._controller = None
