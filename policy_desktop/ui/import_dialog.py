"""Import a JSONL decision log: pick files, follow the import's progress, show the outcome.

The outcome dialog lists every line that was not stored as ``FILE:LINE: reason``
in plain text, so the reviewer can fix the file and import it again, and says what was
stored only in part (unknown fields ignored) and which reviews joined stored decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store.jsonl import ImportResult
from policy_desktop.ui.file_dialogs import open_file_names
from policy_desktop.ui.import_worker import ImportController

PROGRESS_STEPS = 1000
FILE_FILTER = "Decision logs (*.jsonl *.json *.ndjson);;All files (*)"


def choose_import_files(parent: QWidget | None) -> list[Path]:
    """Ask for JSONL files to import (empty list when cancelled)."""
    names = open_file_names(parent, "Import decision log", "", FILE_FILTER)
    return [Path(name) for name in names]


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def summary_text(result: ImportResult, paths: Sequence[Path], *, cancelled: bool = False) -> str:
    """One paragraph saying what the import did."""
    source = paths[0].name if len(paths) == 1 else _plural(len(paths), "file")
    parts = [f"Imported {_plural(result.imported, 'decision')} from {source}."]
    if cancelled:
        parts = [f"Import cancelled: {_plural(result.imported, 'decision')} from {source} "
                 "were stored before it stopped (they stay; importing the file again skips "
                 "them as already stored)."]
    if result.duplicates:
        parts.append(f"{_plural(result.duplicates, 'line')} already stored (skipped).")
    if result.reviews_merged:
        parts.append(f"{_plural(result.reviews_merged, 'review')} of stored decisions added "
                     "to their history.")
    if result.invalid:
        parts.append(f"{_plural(result.invalid, 'line')} could not be read.")
    if result.conflicts:
        parts.append(f"{_plural(result.conflicts, 'line')} conflicted with stored decisions "
                     "(the stored ones were kept).")
    return " ".join(parts)


class ImportResultDialog(QDialog):
    """The outcome of an import, with every problem line as ``FILE:LINE: reason``.

    Args:
        result: what the import stored and found.
        paths: the imported files.
        parent: the owning window.
        cancelled: the import was stopped before the end.
    """

    def __init__(self, result: ImportResult, paths: Sequence[Path],
                 parent: QWidget | None = None, *, cancelled: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("importResultDialog")
        title = "Import finished" if result.ok else "Import finished with problems"
        self.setWindowTitle("Import cancelled" if cancelled else title)
        self.summary = QLabel(summary_text(result, paths, cancelled=cancelled))
        self.summary.setObjectName("importSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.addWidget(self.summary)
        self.warnings = QLabel("\n".join(result.warnings))
        self.warnings.setObjectName("importWarnings")
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings.setWordWrap(True)
        self.warnings.setVisible(bool(result.warnings))
        layout.addWidget(self.warnings)
        self.problems = QPlainTextEdit()
        self.problems.setObjectName("importProblems")
        self.problems.setReadOnly(True)
        self.problems.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.problems.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.problems.setPlainText("\n".join(str(problem) for problem in result.problems))
        if result.problems:
            shown = len(result.problems)
            total = result.invalid + result.conflicts
            caption = "Lines not stored:" if shown >= total else (
                f"Lines not stored (the first {shown:,} of {total:,}):")
            heading = QLabel(caption)
            heading.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(heading)
            layout.addWidget(self.problems, 1)
        else:
            self.problems.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, 420 if result.problems else 160)

    def problem_lines(self) -> list[str]:
        """The problem lines as shown."""
        text = self.problems.toPlainText()
        return text.splitlines() if text else []


class ImportProgressDialog(QProgressDialog):
    """Follows an :class:`ImportController`'s worker on the GUI thread; Cancel stops it.

    Signals:
        finished_import(result, cancelled): the import ended (``cancelled``: on request).
        failed_import(message): a file could not be read.
    """

    finished_import = Signal(object, bool)
    failed_import = Signal(str)

    def __init__(self, names: str, controller: ImportController,
                 parent: QWidget | None = None) -> None:
        super().__init__(f"Importing {names}…", "Cancel", 0, PROGRESS_STEPS, parent)
        self.setObjectName("importProgressDialog")
        self.setWindowTitle("Import log")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setMinimumWidth(460)  # room for a file name
        self._controller = controller
        self.canceled.connect(self.cancel_import)
        worker = controller.worker  # bound methods of this GUI-thread object: queued calls
        worker.progress.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.cancelled.connect(self._cancelled)
        worker.failed.connect(self._failed)

    def cancel_import(self) -> None:
        """Stop the import after the line being read; what was stored stays."""
        self.setLabelText("Cancelling… (the lines read so far are being stored)")
        self._controller.cancel()

    def _progress(self, stage: str, fraction: float) -> None:
        if not self.wasCanceled():
            self.setLabelText(stage)
        self.setValue(min(PROGRESS_STEPS, round(fraction * PROGRESS_STEPS)))

    def _finished(self, result: ImportResult) -> None:
        self.finished_import.emit(result, False)

    def _cancelled(self, result: ImportResult) -> None:
        self.finished_import.emit(result, True)

    def _failed(self, message: str) -> None:
        self.failed_import.emit(message)
