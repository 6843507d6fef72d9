"""Replays off the GUI thread: a worker ``QObject`` on its own ``QThread``.

The worker opens its own connection to the database, loads the candidate model (the
bundled or a chosen GGUF in a child process, or a server at an endpoint), replays, and
builds the report there; the dialog only sends jobs and listens to the signals.
Cancellation is a thread-safe flag checked between decisions (and by the model).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.replay import ReplaySelection
from policy_desktop.ui.worker_thread import WorkerThread

if TYPE_CHECKING:
    from policy_desktop.engine.llm import EngineSettings
    from policy_desktop.engine.runner import Model

ModelFactory = Callable[["EngineSettings", "str | None", Callable[[str], None]], "Model"]
"""Loads the candidate: (settings, endpoint or None, on_status) -> a loaded model."""


def start_candidate(settings: EngineSettings, endpoint: str | None,
                    on_status: Callable[[str], None]) -> Model:
    """A server at ``endpoint``, else the model in a child process (a crash there fails
    the replay, never the window)."""
    if endpoint:
        from policy_desktop.engine.endpoint import EndpointModel

        on_status(f"Connecting to {endpoint}…")
        return EndpointModel(endpoint, settings)
    from policy_desktop.engine.model_process import ModelProcess

    return ModelProcess(settings, on_status=on_status)


@dataclass(frozen=True)
class ReplayJob:
    """A replay to start (``selection``) or to continue (``resume_run``)."""

    database: str
    prompt_version: str
    selection: ReplaySelection | None = None
    resume_run: str | None = None
    model_path: Path | None = None
    tuned_model: str | None = None
    endpoint: str | None = None
    parallel: int = 1
    policy_path: Path | None = None
    n_threads: int | None = None


@dataclass(frozen=True)
class ReplayChoices:
    """What the dialog's menus offer: the table's facets and the earlier replays."""

    facets: dict[str, list[str]]
    replays: list[tuple[str, str, str, int, int]]  # run id, status, label, done, planned


class ReplayWorker(QObject):
    """Runs :class:`ReplayJob` s and reads reports; lives on the replay thread.

    Signals:
        choices_loaded(ReplayChoices)
        status(text): loading the model and similar messages.
        started(run_id, total, done): the replay run is recorded (``done`` before now).
        progress(done, total)
        finished(report) / cancelled(report): a ``ReplayReport`` of the whole run so far.
        report_loaded(report): an earlier replay's report, as asked.
        failed(message): nothing more will come for this job.
        load_failed(message): the menus or a report could not be read.
    """

    choices_loaded = Signal(object)
    status = Signal(str)
    started = Signal(str, int, int)
    progress = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal(object)
    report_loaded = Signal(object)
    failed = Signal(str)
    load_failed = Signal(str)

    def __init__(self, model_factory: ModelFactory = start_candidate) -> None:
        super().__init__()
        self._model_factory = model_factory
        self._stop = threading.Event()
        self._log: PolicyDecisionLog | None = None

    def request_stop(self) -> None:
        self._stop.set()

    def _open(self, database: str) -> PolicyDecisionLog:
        if self._log is None or self._log.target.location != database:
            if self._log is not None:
                self._log.close()
            self._log = PolicyDecisionLog(database, create=False)
        return self._log

    @Slot(str)
    def load_choices(self, database: str) -> None:
        from policy_desktop.store.queries import DecisionQueries
        from policy_desktop.store.replay import ReplayStore

        try:
            log = self._open(database)
            store = ReplayStore(log)
            replays = []
            for run in store.replay_runs():
                links = store.links(run.run_id)
                done = sum(link.replay_id is not None for link in links)
                label = f"{run.model_name} · {run.prompt_version}"
                replays.append((run.run_id, run.status, label, done, len(links)))
            self.choices_loaded.emit(ReplayChoices(DecisionQueries(log).facets(), replays))
        except Exception as error:  # reported in the dialog; the thread goes on
            self.load_failed.emit(f"{type(error).__name__}: {error}")

    @Slot(str, str)
    def load_report(self, database: str, run_id: str) -> None:
        from policy_desktop.engine.replay_report import replay_report

        try:
            self.report_loaded.emit(replay_report(self._open(database), run_id))
        except Exception as error:
            self.load_failed.emit(f"{type(error).__name__}: {error}")

    @Slot(object)
    def run(self, job: ReplayJob) -> None:
        """Start or continue ``job``'s replay; report through the signals."""
        from policy_desktop.engine.endpoint import EndpointError
        from policy_desktop.engine.gguf import ModelFileError
        from policy_desktop.engine.model_process import ModelProcessError
        from policy_desktop.engine.prompts import PromptCatalog, PromptError, load_policy
        from policy_desktop.engine.replay import (
            Candidate,
            ReplayMismatch,
            continue_replay,
            plan_replay,
        )
        from policy_desktop.engine.replay_report import replay_report
        from policy_desktop.finetune.registry import ModelRegistryError

        self._stop.clear()
        try:
            log = self._open(job.database)
            version = PromptCatalog().get(job.prompt_version)
            policy = load_policy(job.policy_path)
            with contextlib.closing(self._load(job)) as model:
                if self._stop.is_set():
                    self.failed.emit("Cancelled before the replay started.")
                    return
                candidate = Candidate(model, version, policy)
                if job.resume_run is not None:
                    run_id = job.resume_run
                else:
                    assert job.selection is not None
                    run_id, _ = plan_replay(log, job.selection, candidate)
                outcome = continue_replay(
                    log, run_id, candidate, listener=_Signals(self),
                    should_stop=self._stop.is_set,
                    parallel=job.parallel if job.endpoint else 1)
            report = replay_report(log, run_id)
        except (ModelFileError, ModelRegistryError, EndpointError, PromptError,
                ReplayMismatch, OSError) as error:
            self.failed.emit(str(error))
            return
        except ModelProcessError as error:
            self.failed.emit(f"The model stopped working: {error}. What finished is kept; "
                             "Continue carries on where it stopped.")
            return
        except Exception as error:  # reported to the person; the thread must go on
            self.failed.emit(f"{type(error).__name__}: {error}")
            return
        (self.cancelled if outcome.status == "cancelled" else self.finished).emit(report)

    def _load(self, job: ReplayJob) -> Model:
        from policy_desktop.engine.llm import EngineSettings

        settings = EngineSettings(model_path=job.model_path, n_threads=job.n_threads)
        if job.tuned_model is not None:
            from policy_desktop.finetune.registry import resolve_model

            tuned = resolve_model(job.tuned_model)
            settings = EngineSettings(model_path=tuned.base_model, lora_path=tuned.lora_path,
                                      label=(tuned.model_name, tuned.model_version),
                                      n_threads=job.n_threads)
        return self._model_factory(settings, job.endpoint, self.status.emit)

    @Slot()
    def release(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class _Signals:
    """The replay's listener: progress becomes the worker's signals."""

    def __init__(self, worker: ReplayWorker) -> None:
        self._worker = worker

    def replay_started(self, run_id: str, total: int, done: int) -> None:
        self._worker.started.emit(run_id, total, done)

    def decision_replayed(self, done: int, total: int, original: PolicyDecision,
                          answer: PolicyDecision) -> None:
        self._worker.progress.emit(done, total)


class ReplayController(WorkerThread):
    """Owns the replay thread and its worker."""

    _run_requested = Signal(object)
    _choices_requested = Signal(str)
    _report_requested = Signal(str, str)

    def __init__(self, parent: QObject | None = None, *,
                 model_factory: ModelFactory = start_candidate) -> None:
        super().__init__(ReplayWorker(model_factory), "policy-desktop-replay", parent)
        self.worker: ReplayWorker
        self._run_requested.connect(self.worker.run)
        self._choices_requested.connect(self.worker.load_choices)
        self._report_requested.connect(self.worker.load_report)
        for signal in (self.worker.finished, self.worker.cancelled, self.worker.failed):
            signal.connect(self._mark_idle)
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def start(self, job: ReplayJob) -> None:
        if self._running:
            raise RuntimeError("a replay is already in progress")
        self._running = True
        self._run_requested.emit(job)

    def load_choices(self, database: str) -> None:
        self._choices_requested.emit(database)

    def load_report(self, database: str, run_id: str) -> None:
        self._report_requested.emit(database, run_id)

    def _mark_idle(self, *_args: Any) -> None:
        self._running = False
