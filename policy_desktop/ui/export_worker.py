"""Training export previews and exports off the GUI thread (a worker on its own QThread).

The worker opens its own connection to the database, keeps one embedding model for
the preview and the export (so the few-shot selection is computed the same way
twice, loading the model once), and reports progress only through signals.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.worker_thread import WorkerThread

if TYPE_CHECKING:
    from policy_desktop.engine.embedding_process import ProcessEmbedder
    from policy_desktop.export.fewshot_selection import EmbedFn
    from policy_desktop.export.options import ExportOptions
    from policy_desktop.export.token_budget import GgufTokenCounter, TokenCounter


class ExportWorker(QObject):
    """Computes previews and writes exports for one database.

    Signals:
        progress(stage, fraction): from the export's own progress reports.
        budget_ready(budget): the few-shot examples' ``TokenBudget`` (or None), just
            before the preview it belongs to.
        preview_ready(preview): an ``ExportPreview``.
        finished(result): an ``ExportResult``; the folder is complete.
        failed(message): nothing was written.
        cancelled(): the export stopped on request; nothing was written.
    """

    progress = Signal(str, float)
    budget_ready = Signal(object)
    preview_ready = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, database: str, embed: EmbedFn | None = None,
                 count_tokens: TokenCounter | None = None,
                 model_path: str | None = None) -> None:
        super().__init__()
        self._database = database
        self._embed = embed
        self._count_tokens = count_tokens
        self._model_path = model_path
        self._counter: GgufTokenCounter | None = None
        self._log: PolicyDecisionLog | None = None
        self._embedder: ProcessEmbedder | None = None
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Ask a running export to stop (safe from any thread)."""
        self._stop.set()

    def _prepared(self, options: ExportOptions) -> tuple[PolicyDecisionLog, ExportOptions]:
        from dataclasses import replace

        from policy_desktop.engine.embedding_process import ProcessEmbedder

        if self._log is None:
            self._log = PolicyDecisionLog(self._database, create=False)
        embed = self._embed
        if embed is None:
            if self._embedder is None:
                self._embedder = ProcessEmbedder()  # torch stays out of the GUI process
            embed = self._embedder.encode
        count_tokens = self._count_tokens
        if count_tokens is None and options.context_size is not None:
            from policy_desktop.export.token_budget import GgufTokenCounter

            if self._counter is None:  # the target model's tokenizer, in a child process
                self._counter = GgufTokenCounter(self._model_path)
            count_tokens = self._counter
        self._stop.clear()
        return self._log, replace(options, embed=embed, count_tokens=count_tokens,
                                  on_progress=self.progress.emit,
                                  should_stop=self._stop.is_set)

    @Slot(object)
    def preview(self, options: ExportOptions) -> None:
        """Compute what an export with ``options`` would write."""
        from policy_desktop.export.training import preview_with_budget

        try:
            log, options = self._prepared(options)
            preview, budget = preview_with_budget(log, options)
            self.budget_ready.emit(budget)
            self.preview_ready.emit(preview)
        except Exception as error:  # shown to the person in the wizard
            self.failed.emit(_message(error))

    @Slot(str, object)
    def export(self, output_dir: str, options: ExportOptions) -> None:
        """Write the export into ``output_dir`` (atomically)."""
        from policy_desktop.export.options import ExportCancelled
        from policy_desktop.export.training import export_training_data

        try:
            log, options = self._prepared(options)
            self.finished.emit(export_training_data(log, Path(output_dir), options))
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
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._counter is not None:
            self._counter.close()
            self._counter = None


def _message(error: Exception) -> str:
    return str(error) or type(error).__name__


class ExportController(WorkerThread):
    """Owns the export thread and its worker for one wizard."""

    _preview_requested = Signal(object)
    _export_requested = Signal(str, object)

    def __init__(self, database: str, parent: QObject | None = None, *,
                 embed: EmbedFn | None = None, count_tokens: TokenCounter | None = None,
                 model_path: str | None = None) -> None:
        super().__init__(ExportWorker(database, embed, count_tokens, model_path),
                         "policy-desktop-export", parent)
        self.worker: ExportWorker
        self._preview_requested.connect(self.worker.preview)
        self._export_requested.connect(self.worker.export)

    def preview(self, options: ExportOptions) -> None:
        """Compute a preview of ``options`` on the export thread."""
        self._preview_requested.emit(options)

    def export(self, output_dir: Path, options: ExportOptions) -> None:
        """Write the export on the export thread."""
        self._export_requested.emit(str(output_dir), options)
