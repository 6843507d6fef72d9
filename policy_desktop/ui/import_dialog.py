"""Import a JSONL decision log: pick files, import on the database thread, show the outcome.

The outcome dialog lists every line that was not stored as ``FILE:LINE: reason``
in plain text, so the reviewer can fix the file and import it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.jsonl import ImportResult, import_files
from policy_desktop.ui.file_dialogs import open_file_names

FILE_FILTER = "Decision logs (*.jsonl *.json *.ndjson);;All files (*)"


def choose_import_files(parent: QWidget | None) -> list[Path]:
    """Ask for JSONL files to import (empty list when cancelled)."""
    names = open_file_names(parent, "Import decision log", "", FILE_FILTER)
    return [Path(name) for name in names]


def import_job(paths: Sequence[Path]) -> Callable[[PolicyDecisionLog], ImportResult]:
    """A database-thread job importing ``paths`` (streamed, constant memory)."""
    files = list(paths)

    def job(log: PolicyDecisionLog) -> ImportResult:
        return import_files(log, files)

    return job


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def summary_text(result: ImportResult, paths: Sequence[Path]) -> str:
    """One paragraph saying what the import did."""
    source = paths[0].name if len(paths) == 1 else _plural(len(paths), "file")
    parts = [f"Imported {_plural(result.imported, 'decision')} from {source}."]
    if result.duplicates:
        parts.append(f"{_plural(result.duplicates, 'line')} already stored (skipped).")
    if result.invalid:
        parts.append(f"{_plural(result.invalid, 'line')} could not be read.")
    if result.conflicts:
        parts.append(f"{_plural(result.conflicts, 'line')} conflicted with stored decisions "
                     "(the stored ones were kept).")
    return " ".join(parts)


class ImportResultDialog(QDialog):
    """The outcome of an import, with every problem line as ``FILE:LINE: reason``.

    Args:
        result: what :func:`import_files` returned.
        paths: the imported files.
        parent: the owning window.
    """

    def __init__(self, result: ImportResult, paths: Sequence[Path],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importResultDialog")
        self.setWindowTitle("Import finished" if result.ok else "Import finished with problems")
        self.summary = QLabel(summary_text(result, paths))
        self.summary.setObjectName("importSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.addWidget(self.summary)
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
