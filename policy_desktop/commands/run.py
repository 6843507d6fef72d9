"""``policy-desktop run``: the scenario suite on the local model, every decision logged."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from policy_desktop.commands.common import error, guarded, open_log, percent
from policy_desktop.engine.gguf import ModelFileError, read_model_info
from policy_desktop.engine.llm import EngineSettings
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    PromptError,
    load_policy,
)
from policy_desktop.engine.runner import Model, RunRequest, RunSummary, ScenarioResult
from policy_desktop.engine.scenarios import Scenario, ScenarioFileError, load_suite

RULE = "=" * 70
BAR_WIDTH = 24


class TerminalListener:
    """Prints a progress bar (on a terminal) and one line per finished scenario."""

    def __init__(self, out: TextIO, progress: TextIO) -> None:
        self._out = out
        self._progress = progress
        self._live = progress.isatty()
        self.run_id: str | None = None
        self._label = ""
        self._index = self._total = 0

    def _bar(self, done: int, total: int, label: str) -> None:
        if not self._live or total == 0:
            return
        filled = round(BAR_WIDTH * done / total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._progress.write(f"\r[{bar}] {done}/{total} {label:<40.40}")
        self._progress.flush()

    def _clear(self) -> None:
        if self._live:
            self._progress.write("\r" + " " * (BAR_WIDTH + 50) + "\r")
            self._progress.flush()

    def run_started(self, run_id: str, total: int) -> None:
        self.run_id = run_id
        print(f"Run {run_id}: {total} scenario(s)\n", file=self._out, flush=True)

    def scenario_started(self, index: int, total: int, scenario: Scenario) -> None:
        self._index, self._total = index, total
        self._label = scenario.scenario_id
        self._bar(index, total, f"running {scenario.scenario_id}: {scenario.description}")

    def prompt_evaluated(self, done: int, total: int) -> None:
        self._bar(self._index, self._total, f"{self._label}: prompt {done}/{total} tokens")

    def text_generated(self, piece: str) -> None:
        pass

    def scoring(self) -> None:
        self._bar(self._index, self._total, f"{self._label}: scoring")

    def decision_logged(self, index: int, total: int, result: ScenarioResult) -> None:
        self._clear()
        print(format_result(result), file=self._out, flush=True)
        self._bar(index + 1, total, "")
        if index + 1 == total:
            self._clear()


def format_result(result: ScenarioResult) -> str:
    """One line per scenario: id, PASS/FAIL, decision vs expected, coverage, confidence…"""
    answer, evaluation = result.answer, result.evaluation
    verdict = "PASS" if result.passed else "FAIL"
    mark = "✓" if evaluation.decision_correct else "✗"
    confidence = "n/a" if answer.confidence is None else f"{answer.confidence:.2f}"
    return (f"{result.scenario.scenario_id:<5} {verdict}  {mark} {answer.decision:<19} "
            f"expected {result.scenario.expected_decision:<19} "
            f"coverage {percent(evaluation.reasoning_coverage):>6}  confidence {confidence:>4}  "
            f"{result.decision_id}  {result.seconds:.1f}s")


def format_summary(summary: RunSummary, database: str) -> str:
    """The seed's end-of-run summary."""
    lines = ["", RULE, f"RUN SUMMARY ({summary.status})", RULE,
             f"Model: {summary.model_name} ({summary.model_version})",
             f"Prompt version: {summary.prompt_version}",
             f"Scenarios: {len(summary.results)} of {summary.planned}",
             f"Pass rate: {percent(summary.pass_rate)} ({summary.passed}/{len(summary.results)})",
             f"Decision accuracy: {percent(summary.accuracy)}",
             f"Mean reasoning coverage: {percent(summary.mean_coverage)}", "",
             "Decision distribution:"]
    for name, count in summary.decision_distribution.items():
        lines.append(f"  {name}: {count}")
    if not summary.decision_distribution:
        lines.append("  (none)")
    average = summary.average_seconds
    lines += ["", f"Model load: {summary.model_load_seconds:.1f}s",
              f"Total time: {summary.total_seconds:.1f}s",
              f"Average per scenario: {'n/a' if average is None else f'{average:.1f}s'}", "",
              f"Run id: {summary.run_id}", f"Decisions logged to: {database}",
              "Review them with: policy-desktop (desktop) or policy-desktop review (terminal)",
              RULE]
    return "\n".join(lines)


def _stop_on_interrupt() -> tuple[threading.Event, object]:
    """First Ctrl+C asks the run to stop after logging what finished; the second aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after the current scenario (Ctrl+C again to abort)…",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    return stop, previous


@dataclass(frozen=True)
class ModelChoice:
    """What ``--model`` chose: a GGUF file (or the bundled model), or a fine-tuned version."""

    path: Path | None = None
    lora_path: Path | None = None
    label: tuple[str, str] | None = None
    prompt_version: str | None = None


def choose_model(model: str | None) -> ModelChoice:
    """``--model``: a GGUF path, else the name of a registered fine-tuned model.

    Raises:
        ModelFileError: a path that is not a usable GGUF file.
        ValueError: neither a file nor a registered model (the message lists them).
    """
    if not model:
        return ModelChoice()
    path = Path(model).expanduser()
    if path.exists() or "/" in model or model.endswith(".gguf"):
        read_model_info(path)
        return ModelChoice(path=path)
    from policy_desktop.finetune.registry import resolve_model

    tuned = resolve_model(model)
    return ModelChoice(path=tuned.base_model, lora_path=tuned.lora_path,
                       label=(tuned.model_name, tuned.model_version),
                       prompt_version=tuned.prompt_version)


def start_model(endpoint: str | None, settings: EngineSettings,
                status: Callable[[str], None]) -> Model:
    """The model that answers: a server at ``endpoint``, else the local model in a child
    process (a native crash in llama.cpp then fails the run, not this command, and the
    run is recorded as failed with the cause)."""
    if endpoint:
        from policy_desktop.engine.endpoint import EndpointModel

        status(f"Connecting to {endpoint}…")
        return EndpointModel(endpoint, settings)
    from policy_desktop.engine.model_process import ModelProcess

    return ModelProcess(settings, on_status=status)


def open_model(endpoint: str | None, settings: EngineSettings) -> Model | int:
    """:func:`start_model` with its status lines on stderr; on failure the error is printed
    and the command's exit code returned (2: a bad model file, 3: the model or server failed)."""
    from policy_desktop.engine.endpoint import EndpointError
    from policy_desktop.engine.model_process import ModelProcessError

    try:
        return start_model(endpoint, settings,
                           lambda text: print(text, file=sys.stderr, flush=True))
    except ModelFileError as problem:
        error(str(problem))
        return 2
    except (ModelProcessError, EndpointError) as problem:
        error(str(problem))
        return 3


def _run(args: argparse.Namespace) -> int:
    # Everything that can be wrong with the inputs is checked before anything runs.
    try:
        suite = load_suite(args.scenarios)
        only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
        scenarios = suite.select(full=args.full, only=only)
    except ScenarioFileError as problem:
        error(f"invalid scenario file:\n{problem}")
        return 2
    try:
        model = choose_model(args.model)
    except (ModelFileError, ValueError) as problem:
        error(str(problem))
        return 2
    try:
        catalog = PromptCatalog()
        version = catalog.get(args.prompt_version or model.prompt_version
                              or DEFAULT_PROMPT_VERSION)
        policy = load_policy(args.policy)
    except (PromptError, OSError) as problem:
        error(str(problem))
        return 2

    from policy_desktop.engine.embeddings import Embedder
    from policy_desktop.engine.endpoint import EndpointError
    from policy_desktop.engine.evaluation import SemanticEvaluator
    from policy_desktop.engine.model_process import ModelProcessError
    from policy_desktop.engine.runner import ScenarioRunner

    evaluator_options = {key: value for key, value in (
        ("match_threshold", args.match_threshold), ("pass_coverage", args.pass_coverage))
        if value is not None}
    try:
        evaluator = SemanticEvaluator(Embedder(), **evaluator_options)
    except ValueError as problem:
        error(str(problem))
        return 2
    settings_options = {key: value for key, value in (
        ("n_threads", args.threads), ("n_ctx", args.ctx), ("n_gpu_layers", args.gpu_layers))
        if value is not None}
    settings = EngineSettings(model_path=model.path, lora_path=model.lora_path,
                              label=model.label, **settings_options)
    if args.parallel < 1 or (args.parallel > 1 and not args.endpoint):
        error("--parallel needs --endpoint and a number of at least 1")
        return 2
    with open_log(args.db, create=True) as log:
        model_process = open_model(args.endpoint, settings)
        if isinstance(model_process, int):
            return model_process
        with contextlib.closing(model_process):
            info = model_process.info
            print(f"Model: {info.name} ({info.quantization}) loaded in "
                  f"{model_process.load_seconds:.1f}s from {info.path}", flush=True)
            print(f"Prompt version: {version.name}", flush=True)
            stop, previous = _stop_on_interrupt()
            listener = TerminalListener(sys.stdout, sys.stderr)
            try:
                runner = ScenarioRunner(log, model_process, evaluator)
                request = RunRequest(scenarios, version, policy, suite_path=suite.path,
                                     tags=("full" if args.full else "subset" if only else "quick",))
                summary = runner.run(request, listener=listener, should_stop=stop.is_set,
                                     parallel=args.parallel)
            except (ModelProcessError, EndpointError) as problem:
                error(f"{problem}; run {listener.run_id} is marked failed, what finished "
                      "is logged")
                return 3
            finally:
                signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
        print(format_summary(summary, log.display_name))
    return 130 if summary.status == "cancelled" else 0


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _run(args))
