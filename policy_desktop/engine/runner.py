"""Scenario runs: prompt the model for each scenario, evaluate, log every decision.

Qt-free; the CLI calls it directly and the GUI runs it on a worker thread. Progress
goes out through a :class:`RunListener`, cancellation comes in through ``should_stop``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from policy_desktop.engine.evaluation import Evaluation, SemanticEvaluator
from policy_desktop.engine.llm import Cancelled, EngineSettings, ModelAnswer
from policy_desktop.engine.prompts import PromptVersion, build_prompt
from policy_desktop.engine.scenarios import Scenario
from policy_desktop.store import PolicyDecision, PolicyDecisionLog


@dataclass(frozen=True)
class RunRequest:
    """What to run: these scenarios, with this prompt version and policy."""

    scenarios: Sequence[Scenario]
    prompt_version: PromptVersion
    policy: str
    suite_path: Path | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's answer, its evaluation and the id it was logged under."""

    scenario: Scenario
    decision_id: str
    answer: ModelAnswer
    evaluation: Evaluation
    seconds: float

    @property
    def passed(self) -> bool:
        return self.evaluation.passed


@dataclass
class RunSummary:
    """The outcome of a run, in the seed's terms."""

    run_id: str
    status: str
    model_name: str
    model_version: str
    prompt_version: str
    model_load_seconds: float
    results: list[ScenarioResult] = field(default_factory=list)
    total_seconds: float = 0.0
    planned: int = 0

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / len(self.results) if self.results else None

    @property
    def accuracy(self) -> float | None:
        judged = [r.evaluation.decision_correct for r in self.results
                  if r.evaluation.decision_correct is not None]
        return sum(judged) / len(judged) if judged else None

    @property
    def mean_coverage(self) -> float | None:
        if not self.results:
            return None
        return sum(r.evaluation.reasoning_coverage for r in self.results) / len(self.results)

    @property
    def decision_distribution(self) -> dict[str, int]:
        return dict(Counter(r.answer.decision for r in self.results).most_common())

    @property
    def average_seconds(self) -> float | None:
        return sum(r.seconds for r in self.results) / len(self.results) if self.results else None

    def to_dict(self) -> dict[str, Any]:
        """The summary stored with the run (JSON-ready)."""
        return {
            "scenarios_planned": self.planned,
            "scenarios_run": len(self.results),
            "passed": self.passed,
            "pass_rate": self.pass_rate,
            "accuracy": self.accuracy,
            "mean_coverage": self.mean_coverage,
            "decision_distribution": self.decision_distribution,
            "model_load_seconds": round(self.model_load_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "average_seconds": self.average_seconds,
            "per_scenario": {
                r.scenario.scenario_id: {
                    "decision": r.answer.decision,
                    "expected": r.scenario.expected_decision,
                    "passed": r.passed,
                    "coverage": r.evaluation.reasoning_coverage,
                    "confidence": r.answer.confidence,
                    "decision_id": r.decision_id,
                    "seconds": round(r.seconds, 3),
                } for r in self.results
            },
        }


class ModelIdentity(Protocol):
    """What a run logs about its model (a GGUF's :class:`ModelInfo`, a server's info)."""

    @property
    def name(self) -> str: ...
    @property
    def quantization(self) -> str: ...
    @property
    def path(self) -> Path | str: ...


class Model(Protocol):
    """What the runner needs of a model: an in-process ``PolicyModel``, a ``ModelProcess``,
    an ``EndpointModel``."""

    @property
    def info(self) -> ModelIdentity: ...
    @property
    def settings(self) -> EngineSettings: ...
    @property
    def load_seconds(self) -> float: ...

    def decide(self, system: str, user: str, *, on_text: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> ModelAnswer: ...

    def close(self) -> None: ...


class RunListener(Protocol):
    """Receives a run's progress (all methods optional to act on).

    ``prompt_evaluated(done, total)`` counts the current scenario's prompt tokens as the
    model evaluates them (the long silent part of an answer on a CPU); then
    ``text_generated`` streams the answer; then ``scoring`` precedes the evaluation.
    """

    def run_started(self, run_id: str, total: int) -> None: ...
    def scenario_started(self, index: int, total: int, scenario: Scenario) -> None: ...
    def prompt_evaluated(self, done: int, total: int) -> None: ...
    def text_generated(self, piece: str) -> None: ...
    def scoring(self) -> None: ...
    def decision_logged(self, index: int, total: int, result: ScenarioResult) -> None: ...


class _Silent:
    def run_started(self, run_id: str, total: int) -> None: ...
    def scenario_started(self, index: int, total: int, scenario: Scenario) -> None: ...
    def prompt_evaluated(self, done: int, total: int) -> None: ...
    def text_generated(self, piece: str) -> None: ...
    def scoring(self) -> None: ...
    def decision_logged(self, index: int, total: int, result: ScenarioResult) -> None: ...


class ScenarioRunner:
    """Runs scenarios on one loaded model and evaluator, logging into one decision log."""

    def __init__(self, log: PolicyDecisionLog, model: Model,
                 evaluator: SemanticEvaluator) -> None:
        self._log = log
        self._model = model
        self._evaluator = evaluator

    def run(self, request: RunRequest, *, listener: RunListener | None = None,
            should_stop: Callable[[], bool] | None = None, parallel: int = 1) -> RunSummary:
        """Run every scenario of ``request``; stop between or during scenarios when asked.

        Each finished scenario is logged at once, so a cancelled or failed run keeps
        what it finished. The run is recorded as completed, cancelled or failed. With
        ``parallel`` above 1 that many answers are asked for at once (for a model server
        with several slots; the answer text is heard whole, not streamed).
        """
        listener = listener or _Silent()
        stop = should_stop or (lambda: False)
        info = self._model.info
        scenarios = list(request.scenarios)
        run_id = self._log.start_run(
            model_name=info.name, model_version=info.quantization, model_path=str(info.path),
            prompt_version=request.prompt_version.name,
            scenario_file=str(request.suite_path) if request.suite_path else None,
            scenario_ids=[s.scenario_id for s in scenarios],
            settings=_settings_record(self._model, self._evaluator),
        )
        summary = RunSummary(run_id=run_id, status="running", model_name=info.name,
                             model_version=info.quantization,
                             prompt_version=request.prompt_version.name,
                             model_load_seconds=self._model.load_seconds, planned=len(scenarios))
        started = time.perf_counter()
        listener.run_started(run_id, len(scenarios))
        try:
            if parallel > 1:
                self._run_parallel(request, scenarios, run_id, listener, stop, summary, parallel)
            else:
                for index, scenario in enumerate(scenarios):
                    if stop():
                        raise Cancelled
                    listener.scenario_started(index, len(scenarios), scenario)
                    result = self._run_one(request, scenario, run_id, listener, stop)
                    summary.results.append(result)
                    listener.decision_logged(index, len(scenarios), result)
            summary.status = "completed"
        except Cancelled:
            summary.status = "cancelled"
        except BaseException as error:
            summary.status = "failed"
            summary.total_seconds = time.perf_counter() - started
            self._log.finish_run(run_id, "failed", summary.to_dict(),
                                 error=str(error) or repr(error))
            raise
        summary.total_seconds = time.perf_counter() - started
        self._log.finish_run(run_id, summary.status, summary.to_dict())
        return summary

    def _run_parallel(self, request: RunRequest, scenarios: list[Scenario], run_id: str,
                      listener: RunListener, stop: Callable[[], bool], summary: RunSummary,
                      parallel: int) -> None:
        """Ask for up to ``parallel`` answers at once (a server with several slots);
        score and log them in the suite's order as they arrive."""
        from concurrent.futures import ThreadPoolExecutor

        def answer(scenario: Scenario) -> tuple[ModelAnswer, float]:
            if stop():
                raise Cancelled
            started = time.perf_counter()
            parts = build_prompt(request.prompt_version, request.policy, scenario.situation,
                                 scenario.team_context)
            return self._model.decide(parts.system, parts.user, should_stop=stop), started

        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="run") as pool:
            futures = [pool.submit(answer, scenario) for scenario in scenarios]
            try:
                for index, (scenario, future) in enumerate(zip(scenarios, futures, strict=True)):
                    listener.scenario_started(index, len(scenarios), scenario)
                    model_answer, started = future.result()
                    listener.text_generated(model_answer.full_response)
                    result = self._record(scenario, model_answer, run_id, request, listener,
                                          started)
                    summary.results.append(result)
                    listener.decision_logged(index, len(scenarios), result)
            finally:
                for future in futures:
                    future.cancel()

    def _run_one(self, request: RunRequest, scenario: Scenario, run_id: str,
                 listener: RunListener, stop: Callable[[], bool]) -> ScenarioResult:
        started = time.perf_counter()
        parts = build_prompt(request.prompt_version, request.policy, scenario.situation,
                             scenario.team_context)
        answer = self._model.decide(parts.system, parts.user, on_text=listener.text_generated,
                                    should_stop=stop, on_progress=listener.prompt_evaluated)
        return self._record(scenario, answer, run_id, request, listener, started)

    def _record(self, scenario: Scenario, answer: ModelAnswer, run_id: str,
                request: RunRequest, listener: RunListener, started: float) -> ScenarioResult:
        """Score an answer and log it as a decision of the run."""
        listener.scoring()
        evaluation = self._evaluator.evaluate(
            decision=answer.decision, reasoning=answer.reasoning,
            expected_decision=scenario.expected_decision, key_points=scenario.expected_reasoning)
        info = self._model.info
        decision = PolicyDecision(
            situation=dict(scenario.situation), team_context=scenario.team_context,
            model_name=info.name, model_version=info.quantization,
            prompt_version=request.prompt_version.name, decision=answer.decision,
            classification=answer.classification, risk_level=answer.risk_level,
            reasoning=answer.reasoning, full_response=answer.full_response,
            expected_decision=scenario.expected_decision,
            decision_correct=evaluation.decision_correct,
            reasoning_coverage=evaluation.reasoning_coverage, confidence=answer.confidence,
            scenario_id=scenario.scenario_id, run_id=run_id,
            tags=_tags(scenario, request.tags), prompt_tokens=answer.prompt_tokens,
            generated_tokens=answer.generated_tokens, seconds=round(answer.seconds, 4),
        )
        decision_id = self._log.log_decision(decision)
        return ScenarioResult(scenario, decision_id, answer, evaluation,
                              time.perf_counter() - started)


def _tags(scenario: Scenario, extra: Sequence[str]) -> list[str]:
    tags: list[str] = []
    for tag in (*scenario.tags, scenario.difficulty, *extra):
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _settings_record(model: Model, evaluator: SemanticEvaluator) -> dict[str, Any]:
    settings = model.settings
    return {
        "n_threads": settings.n_threads, "n_ctx": settings.n_ctx,
        "n_gpu_layers": settings.n_gpu_layers, "temperature": settings.temperature,
        "max_tokens": settings.max_tokens, "seed": settings.seed,
        "lora_path": None if settings.lora_path is None else str(settings.lora_path),
        "match_threshold": evaluator.match_threshold, "pass_coverage": evaluator.pass_coverage,
    }
