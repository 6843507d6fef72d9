"""Scenario runs off the GUI thread: a worker ``QObject`` on its own ``QThread``.

The worker owns the llama.cpp model in a child process (a native crash there fails the
run, never the window); it stays loaded between runs and is reloaded only when the model
file or its settings change, or after the model's process died. The embedding model is the
app's shared embedding service (handed in; the worker starts a private one only when it
gets none). It talks to the GUI only through signals; cancellation is a thread-safe flag polled
at every token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.engine.evaluation import DEFAULT_MATCH_THRESHOLD, DEFAULT_PASS_COVERAGE
from policy_desktop.engine.prompts import PromptVersion
from policy_desktop.engine.scenarios import Scenario
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.worker_thread import WorkerThread

if TYPE_CHECKING:
    from policy_desktop.engine.embedding_process import ProcessEmbedder
    from policy_desktop.engine.embeddings import TextEncoder
    from policy_desktop.engine.evaluation import SemanticEvaluator
    from policy_desktop.engine.llm import EngineSettings
    from policy_desktop.engine.model_process import ModelProcess
    from policy_desktop.engine.runner import Model, ScenarioResult

ModelFactory = Callable[["EngineSettings", Callable[[str], None]], "ModelProcess"]
"""Starts a model process: (settings, on_status) -> a loaded ``ModelProcess``."""


def start_model_process(settings: EngineSettings, on_status: Callable[[str], None]
                        ) -> ModelProcess:
    from policy_desktop.engine.model_process import ModelProcess

    return ModelProcess(settings, on_status=on_status)


@dataclass(frozen=True)
class RunJob:
    """Everything a run needs, decided on the GUI thread before it starts."""

    database: str
    scenarios: tuple[Scenario, ...]
    prompt_version: PromptVersion
    policy: str
    model_path: Path | None = None
    n_threads: int | None = None
    n_gpu_layers: int = 0
    n_ctx: int = 4096
    tuned_model: str | None = None
    endpoint: str | None = None
    parallel: int = 1
    match_threshold: float = DEFAULT_MATCH_THRESHOLD
    pass_coverage: float = DEFAULT_PASS_COVERAGE
    suite_path: Path | None = None
    tags: tuple[str, ...] = ()


class RunWorker(QObject):
    """Runs :class:`RunJob` s with the engine; lives on the run thread.

    It logs into the job's database through its own connection (opened on the run
    thread and kept while the database stays the same).

    Signals:
        started(run_id, total): the run is recorded and about to start.
        status(text): model loading and similar messages.
        scenario_started(index, total, scenario_id, description)
        prompt_evaluated(done, total): prompt tokens evaluated so far for this scenario.
        text_generated(piece): the model's answer as it streams in.
        scoring_started(): the answer is complete and being scored.
        decision_logged(result): a ``ScenarioResult``, already in the database.
        runFinished(summary) / runCancelled(summary): a ``RunSummary``.
        runFailed(message): nothing more will come for this run.
    """

    started = Signal(str, int)
    status = Signal(str)
    scenario_started = Signal(int, int, str, str)
    prompt_evaluated = Signal(int, int)
    text_generated = Signal(str)
    scoring_started = Signal()
    decision_logged = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(str)

    def __init__(self, model_factory: ModelFactory = start_model_process,
                 embedder: TextEncoder | None = None) -> None:
        super().__init__()
        self._model_factory = model_factory
        self._log: PolicyDecisionLog | None = None
        self._stop = threading.Event()
        self._model: Model | None = None
        self._model_key: tuple[object, ...] | None = None
        self._embedder = embedder  # shared: the app closes it, not this worker
        self._own_embedder: ProcessEmbedder | None = None

    @property
    def model_pid(self) -> int | None:
        """Process id of the loaded model's child process, if one is running."""
        return getattr(self._model, "pid", None)

    def request_stop(self) -> None:
        """Ask the current run to stop (safe to call from any thread)."""
        self._stop.set()

    @Slot(object)
    def run(self, job: RunJob) -> None:
        """Run ``job``; report through the signals (called on the run thread)."""
        from policy_desktop.engine.endpoint import EndpointError
        from policy_desktop.engine.gguf import ModelFileError
        from policy_desktop.engine.model_process import ModelProcessError
        from policy_desktop.engine.runner import RunRequest, ScenarioRunner
        from policy_desktop.finetune.registry import ModelRegistryError

        self._stop.clear()
        try:
            model = self._load_model(job)
            if self._stop.is_set():
                self.failed.emit("Cancelled before the run started.")
                return
            runner = ScenarioRunner(self._open_log(job.database), model, self._evaluator(job))
            request = RunRequest(job.scenarios, job.prompt_version, job.policy,
                                 suite_path=job.suite_path, tags=job.tags)
            summary = runner.run(request, listener=_Signals(self), should_stop=self._stop.is_set,
                                 parallel=job.parallel if job.endpoint else 1)
        except (ModelFileError, ModelRegistryError, EndpointError) as error:
            self.failed.emit(str(error))
            return
        except ModelProcessError as error:
            self._release_model()  # the next run starts a fresh model process
            self.failed.emit(f"The model stopped working: {error}. What finished is "
                                "logged; the next run starts the model again.")
            return
        except Exception as error:  # reported to the person; the thread must go on
            self.failed.emit(f"{type(error).__name__}: {error}")
            return
        if summary.status == "cancelled":
            self.cancelled.emit(summary)
        else:
            self.finished.emit(summary)

    def _open_log(self, database: str) -> PolicyDecisionLog:
        if self._log is None or self._log.target.location != database:
            if self._log is not None:
                self._log.close()
            self._log = PolicyDecisionLog(database)
        return self._log

    def _load_model(self, job: RunJob) -> Model:
        from policy_desktop.engine.llm import EngineSettings

        settings = EngineSettings(model_path=job.model_path, n_threads=job.n_threads,
                                  n_gpu_layers=job.n_gpu_layers, n_ctx=job.n_ctx)
        if job.tuned_model is not None:
            from policy_desktop.finetune.registry import resolve_model

            # Checks the files against their record: a decision is never logged under a
            # version whose adapter or base changed.
            tuned = resolve_model(job.tuned_model)
            settings = replace(settings, model_path=tuned.base_model, lora_path=tuned.lora_path,
                               label=(tuned.model_name, tuned.model_version))
        key = (settings, job.tuned_model, job.endpoint)
        if self._model is not None and key == self._model_key:
            return self._model
        self._release_model()
        model: Model
        if job.endpoint:
            from policy_desktop.engine.endpoint import EndpointModel

            self.status.emit(f"Connecting to {job.endpoint}…")
            model = EndpointModel(job.endpoint, settings)
        else:
            model = self._model_factory(settings, self.status.emit)
        self._model, self._model_key = model, key
        return model

    def _evaluator(self, job: RunJob) -> SemanticEvaluator:
        from policy_desktop.engine.embedding_process import ProcessEmbedder
        from policy_desktop.engine.evaluation import SemanticEvaluator

        embedder = self._embedder
        if embedder is None:  # torch in a child process: its import would freeze the GUI
            if self._own_embedder is None:
                self._own_embedder = ProcessEmbedder()
            embedder = self._own_embedder
        return SemanticEvaluator(embedder, match_threshold=job.match_threshold,
                                 pass_coverage=job.pass_coverage)

    def _release_model(self) -> None:
        if self._model is not None:
            self._model.close()
        self._model = None
        self._model_key = None

    @Slot()
    def release(self) -> None:
        """Free the models and this thread's database connection (before the thread ends)."""
        self._release_model()
        if self._own_embedder is not None:
            self._own_embedder.close()
            self._own_embedder = None
        if self._log is not None:
            self._log.close()
            self._log = None


class _Signals:
    """The runner's listener: each event becomes the worker's signal of the same name."""

    def __init__(self, worker: RunWorker) -> None:
        self._worker = worker

    def run_started(self, run_id: str, total: int) -> None:
        self._worker.started.emit(run_id, total)

    def scenario_started(self, index: int, total: int, scenario: Scenario) -> None:
        self._worker.scenario_started.emit(index, total, scenario.scenario_id,
                                           scenario.description)

    def prompt_evaluated(self, done: int, total: int) -> None:
        self._worker.prompt_evaluated.emit(done, total)

    def text_generated(self, piece: str) -> None:
        self._worker.text_generated.emit(piece)

    def scoring(self) -> None:
        self._worker.scoring_started.emit()

    def decision_logged(self, index: int, total: int, result: ScenarioResult) -> None:
        self._worker.decision_logged.emit(result)


class RunController(WorkerThread):
    """Owns the run thread and its worker; the GUI's handle on background runs."""

    _start_requested = Signal(object)

    def __init__(self, parent: QObject | None = None, *,
                 model_factory: ModelFactory = start_model_process,
                 embedder: TextEncoder | None = None) -> None:
        super().__init__(RunWorker(model_factory, embedder), "policy-desktop-run", parent)
        self.worker: RunWorker
        self._start_requested.connect(self.worker.run)
        for signal in (self.worker.finished, self.worker.cancelled, self.worker.failed):
            signal.connect(self._mark_idle)
        self._running = False

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the run finished, was cancelled or failed."""
        return self._running

    def start(self, job: RunJob) -> None:
        """Start ``job`` on the run thread."""
        if self._running:
            raise RuntimeError("a run is already in progress")
        self._running = True
        self._start_requested.emit(job)

    def _mark_idle(self, *_args: object) -> None:
        self._running = False
