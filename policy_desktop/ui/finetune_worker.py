"""Fine-tuning off the GUI thread: a worker on its own QThread relaying the training child.

The worker builds the training set with its own database connection and runs
:func:`~policy_desktop.finetune.pipeline.finetune`, whose training happens in a spawned
child process (torch never enters the GUI process); events arrive here as signals. After a
training it keeps the held-out reviewed decisions of the new model, so :meth:`compare`
can decide them again with the old and the tuned model (llama.cpp in model child
processes, :mod:`policy_desktop.finetune.comparison`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.finetune.settings import TrainSettings
from policy_desktop.ui.worker_thread import WorkerThread


@dataclass(frozen=True)
class FinetuneOrder:
    """What the dialog asks for: database (or export folder), base model, name, settings."""

    database: str
    base_model: Path | None
    name: str
    settings: TrainSettings
    export_dir: Path | None = None
    overwrite: bool = False


class FinetuneWorker(QObject):
    """Runs one fine-tuning at a time.

    Signals:
        status(text): a stage (reading the data, loading the model, writing the adapter).
        dataReady(examples, per_decision): the training set's size and label counts.
        progress(step, total, loss, seconds_left): ``seconds_left`` is -1 when unknown.
        validated(step, loss, accuracy, improved).
        finished(outcome, model): a ``TrainOutcome`` and the ``RegisteredModel``, or None
            for the model when the training was cancelled (its checkpoint is kept).
        failed(message).
        compareProgress(label, done, total): decisions made by one side of the comparison.
        compared(comparison): a ``Comparison`` (old vs tuned on the held-out reviews).
        compareFailed(message): the comparison failed or was cancelled.
    """

    status = Signal(str)
    dataReady = Signal(int, object)
    progress = Signal(int, int, float, float)
    validated = Signal(int, float, float, bool)
    finished = Signal(object, object)
    failed = Signal(str)
    compareProgress = Signal(str, int, int)
    compared = Signal(object)
    compareFailed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._held_out: dict[str, tuple[Any, Any]] = {}  # name -> (model, examples)

    def request_stop(self) -> None:
        """Ask a running training to stop after its step (safe from any thread)."""
        self._stop.set()

    @Slot()
    def release(self) -> None:
        """Nothing held between trainings."""

    @Slot(object)
    def train(self, order: FinetuneOrder) -> None:
        """Build the data, train in a child process and register the model."""
        self._stop.clear()
        try:
            data = self._data(order)
            self.dataReady.emit(len(data), data.per_decision())
            base = order.base_model or self._bundled()
            from policy_desktop.finetune.pipeline import FinetuneRequest, finetune

            request = FinetuneRequest(data=data, base_model=base, name=order.name,
                                      settings=order.settings, overwrite=order.overwrite)
            outcome, model = finetune(request, self._relay, self._stop.is_set)
            if model is not None:
                from policy_desktop.finetune.pipeline import validation_split

                self._held_out[model.name] = (model, validation_split(request).examples)
            self.finished.emit(outcome, model)
        except Exception as error:  # shown in the dialog
            self.failed.emit(str(error) or type(error).__name__)

    def held_out_count(self, name: str) -> int:
        """How many held-out reviewed decisions the model ``name`` can be compared on."""
        return len(self._held_out.get(name, (None, ()))[1])

    @Slot(str, object)
    def compare(self, name: str, old_prompt_version: str | None = None) -> None:
        """Decide the held-out reviews of ``name`` with the old and the tuned model (the
        old one with ``old_prompt_version``, by default the default prompt)."""
        from policy_desktop.finetune import comparison

        self._stop.clear()
        try:
            model, examples = self._held_out[name]
            old, new = comparison.deciders(model, old_prompt_version=old_prompt_version)
            self.status.emit(f"Comparing on {len(examples)} held-out reviewed decisions…")
            result = comparison.compare(old, new, comparison.cases_from_examples(examples),
                                        on_progress=self.compareProgress.emit,
                                        should_stop=self._stop.is_set,
                                        on_status=self.status.emit)
            comparison.save(model, result)
            self.compared.emit(result)
        except comparison.ComparisonCancelled:
            self.compareFailed.emit("Comparison cancelled.")
        except Exception as error:  # shown in the dialog
            self.compareFailed.emit(f"Comparison failed: {error or type(error).__name__}")

    def _data(self, order: FinetuneOrder) -> Any:
        from policy_desktop.finetune.dataset import build_training_set, load_export
        from policy_desktop.store import PolicyDecisionLog

        self.status.emit("Reading the reviewed decisions…")
        if order.export_dir is not None:
            return load_export(order.export_dir)
        log = PolicyDecisionLog(order.database, create=False)
        try:
            return build_training_set(log)
        finally:
            log.close()

    def _bundled(self) -> Path:
        from policy_desktop.engine.bundled_model import bundled_model_path

        return bundled_model_path(on_status=self.status.emit)

    def _relay(self, event: Any) -> None:
        from policy_desktop.finetune.settings import Progress, Status, Validation

        if isinstance(event, Status):
            self.status.emit(event.text)
        elif isinstance(event, Progress):
            left = -1.0 if event.seconds_left is None else float(event.seconds_left)
            self.progress.emit(event.step, event.total_steps, event.loss, left)
        elif isinstance(event, Validation):
            self.validated.emit(event.step, event.loss, event.accuracy, event.improved)


class FinetuneController(WorkerThread):
    """Owns the fine-tuning thread and its worker for one dialog."""

    _trainRequested = Signal(object)
    _compareRequested = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        self.finetune_worker = FinetuneWorker()
        super().__init__(self.finetune_worker, "policy-desktop-finetune", parent)
        self._trainRequested.connect(self.finetune_worker.train)
        self._compareRequested.connect(self.finetune_worker.compare)

    def train(self, order: FinetuneOrder) -> None:
        """Queue a training on the worker's thread."""
        self._trainRequested.emit(order)

    def compare(self, name: str, old_prompt_version: str | None = None) -> None:
        """Queue the old-vs-tuned comparison of a model this worker trained."""
        self._compareRequested.emit(name, old_prompt_version)
