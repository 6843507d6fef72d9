"""Training export previews and exports off the GUI thread (a worker on its own QThread).

The worker opens its own connection to the database, keeps one embedding model for
the preview and the export (so the few-shot selection is computed the same way
twice, loading the model once), and reports progress only through signals.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from policy_desktop.store import PolicyDecisionLog

if TYPE_CHECKING:
    from policy_desktop.engine.embeddings import Embedder
    from policy_desktop.export.fewshot_selection import EmbedFn
    from policy_desktop.export.options import ExportOptions


class ExportWorker(QObject):
    """Computes previews and writes exports for one database.

    Signals:
        progress(stage, fraction): from the export's own progress reports.
        previewReady(preview): an ``ExportPreview``.
        exported(result): an ``ExportResult``; the folder is complete.
        failed(message): nothing was written.
        cancelled(): the export stopped on request; nothing was written.
    """

    progress = Signal(str, float)
    previewReady = Signal(object)
    exported = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, database: str, embed: EmbedFn | None = None) -> None:
        super().__init__()
        self._database = database
        self._embed = embed
        self._log: PolicyDecisionLog | None = None
        self._embedder: Embedder | None = None
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Ask a running export to stop (safe from any thread)."""
        self._stop.set()

    def _prepared(self, options: ExportOptions) -> tuple[PolicyDecisionLog, ExportOptions]:
        from dataclasses import replace

        from policy_desktop.engine.embeddings import Embedder

        if self._log is None:
            self._log = PolicyDecisionLog(self._database, create=False)
        embed = self._embed
        if embed is None:
            if self._embedder is None:
                self._embedder = Embedder()
            embed = self._embedder.encode
        self._stop.clear()
        return self._log, replace(options, embed=embed,
                                  on_progress=self.progress.emit,
                                  should_stop=self._stop.is_set)

    @Slot(object)
    def preview(self, options: ExportOptions) -> None:
        """Compute what an export with ``options`` would write."""
        from policy_desktop.export.training import preview_export

        try:
            log, options = self._prepared(options)
            self.previewReady.emit(preview_export(log, options))
        except Exception as error:  # shown to the person in the wizard
            self.failed.emit(_message(error))

    @Slot(str, object)
    def export(self, output_dir: str, options: ExportOptions) -> None:
        """Write the export into ``output_dir`` (atomically)."""
        from policy_desktop.export.options import ExportCancelled
        from policy_desktop.export.training import export_training_data

        try:
            log, options = self._prepared(options)
            self.exported.emit(export_training_data(log, Path(output_dir), options))
        except ExportCancelled:
            self.cancelled.emit()
        except Exception as error:
            self.failed.emit(_message(error))

    @Slot()
    def release(self) -> None:
        """Close this thread's database connection and drop the embedding model."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self._embedder = None


def _message(error: Exception) -> str:
    return str(error) or type(error).__name__


class ExportController(QObject):
    """Owns the export thread and its worker for one wizard."""

    _previewRequested = Signal(object)
    _exportRequested = Signal(str, object)
    _releaseRequested = Signal()

    def __init__(self, database: str, parent: QObject | None = None, *,
                 embed: EmbedFn | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("policy-desktop-export")
        self.worker = ExportWorker(database, embed)
        self.worker.moveToThread(self._thread)
        self._previewRequested.connect(self.worker.preview)
        self._exportRequested.connect(self.worker.export)
        self._releaseRequested.connect(self.worker.release)
        self._thread.start()

    def preview(self, options: ExportOptions) -> None:
        self._previewRequested.emit(options)

    def export(self, output_dir: Path, options: ExportOptions) -> None:
        self._exportRequested.emit(str(output_dir), options)

    def cancel(self) -> None:
        self.worker.request_stop()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop any export, release resources and end the thread; True when it ended."""
        if not self._thread.isRunning():
            return True
        self.cancel()
        self._releaseRequested.emit()
        self._thread.quit()
        return self._thread.wait(timeout_ms)
