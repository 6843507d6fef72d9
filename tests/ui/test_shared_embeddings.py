"""The run worker and the export worker embed through one shared service: one child process.

Real threads and real ``spawn`` children: the model's child runs a scripted model
(tests/fake_model_servers.py), the embedding child a hashing encoder (tests/fake_encoders.py).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from pathlib import Path

import fake_encoders
import fake_model_servers
import numpy as np
import pytest
from PySide6.QtCore import QThread
from pytestqt.qtbot import QtBot
from thread_signals import GuiRelay

from policy_desktop.engine.embedding_process import ProcessEmbedder
from policy_desktop.engine.llm import EngineSettings
from policy_desktop.engine.model_process import ModelProcess
from policy_desktop.engine.prompts import PromptCatalog, load_policy
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export.options import ExportOptions
from policy_desktop.export.token_budget import approximate_counter
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.export_worker import ExportController
from policy_desktop.ui.run_worker import RunController, RunJob
from policy_desktop.vocabulary import DECISIONS


class Recording:
    """The shared service as the workers see it, noting which thread asked."""

    def __init__(self, service: ProcessEmbedder) -> None:
        self.service = service
        self.threads: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.threads.append(QThread.currentThread().objectName())
        return self.service.encode(texts)


def scripted_model(settings: EngineSettings, on_status: object) -> ModelProcess:
    return ModelProcess(settings, on_status=on_status,  # type: ignore[arg-type]
                        target=fake_model_servers.answers)


def embedding_children() -> list[int | None]:
    return [child.pid for child in multiprocessing.active_children()
            if child.name == "policy-desktop-embedder"]


def corrections_database(path: Path, corrections: int = 50) -> Path:
    with PolicyDecisionLog(path) as log:
        ids = [log.log_decision(PolicyDecision(
            situation={"actor": f"user{i}", "role": "member", "action": "write",
                       "target": f"repo/file{i}.py"},
            model_name="Gemma 3 270m", model_version="Q4_K_M",
            prompt_version="v2_fewshot_8examples", decision="allow",
            classification="code_change", risk_level="medium",
            reasoning=f"Members may write code in development ({i}).",
            expected_decision="deny", decision_correct=False)) for i in range(corrections)]
        for i, decision_id in enumerate(ids):
            log.mark_reviewed(decision_id, review_decision=DECISIONS[1 + i % 3],
                              review_reasoning=f"Corrected reasoning number {i}.",
                              reviewer="dana")
    return path


@pytest.fixture
def service() -> Iterator[ProcessEmbedder]:
    shared = ProcessEmbedder(encoder_factory=fake_encoders.hash_encoder)
    yield shared
    shared.close()


def test_two_workers_one_embedding_child(service: ProcessEmbedder, tmp_path: Path,
                                         qtbot: QtBot) -> None:
    database = corrections_database(tmp_path / "decisions.db")
    shared = Recording(service)
    runs = RunController(model_factory=scripted_model, embedder=shared)
    export = ExportController(str(database), embed=shared.encode,
                              count_tokens=approximate_counter)
    try:
        suite = load_suite()
        finished = GuiRelay(runs.worker.finished)
        with qtbot.waitSignal(finished.arrived, timeout=120_000):
            runs.start(RunJob(database=str(database), scenarios=tuple(suite.select(only=["E02"])),
                              prompt_version=PromptCatalog().get("v2_fewshot_8examples"),
                              policy=load_policy(), suite_path=suite.path))
        previewed = GuiRelay(export.worker.preview_ready)
        with qtbot.waitSignal(previewed.arrived, timeout=120_000):
            export.preview(ExportOptions())
        assert previewed.calls[0][0].fewshot_ids  # the selection embedded the corrections
        assert {"policy-desktop-run", "policy-desktop-export"} <= set(shared.threads)
        assert embedding_children() == [service.pid] and service.starts == 1
    finally:
        assert runs.shutdown() and export.shutdown()
    assert embedding_children() == [service.pid]  # the workers leave the shared one running
    service.close()
    assert embedding_children() == []


def test_a_worker_given_no_service_starts_and_closes_its_own(tmp_path: Path,
                                                              qtbot: QtBot) -> None:
    """Without the app's service (tools, old callers) a worker owns a private one."""
    runs = RunController(model_factory=scripted_model)
    try:
        broken = tmp_path / "broken.gguf"  # a first job: the run thread's loop is running
        broken.write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
        failed = GuiRelay(runs.worker.failed)
        job = RunJob(database=str(tmp_path / "d.db"), scenarios=(),
                     prompt_version=PromptCatalog().get("v2_fewshot_8examples"), policy="",
                     model_path=broken)
        with qtbot.waitSignal(failed.arrived, timeout=30_000):
            runs.start(job)
        # Let run() return before the shutdown (tests/ui/test_worker_thread.py covers a
        # shutdown while the worker is still busy).
        qtbot.wait(300)
        evaluator = runs.worker._evaluator(job)
        assert isinstance(evaluator._embedder, ProcessEmbedder)
    finally:
        assert runs.shutdown()
    assert runs.worker._own_embedder is None  # closed when the worker released
