"""Does fine-tuning on reviewed corrections make the bundled model decide better?

Run: ``.venv/bin/python benchmarks/bench_finetune.py [--corrections 200] [--held-out 200]
[--epochs 3] [--timing 40] [--threads N]``

Situations come from :mod:`policy_desktop.finetune.synthetic` (rules 1-10 of the default
policy, a quarter per decision). ``--corrections`` of them are logged as wrong model answers
and corrected by a reviewer in a scratch database; ``--held-out`` others are never seen in
training. In one run it reports, on the held-out set, the decision accuracy of

1. the bundled Gemma 3 270M with the default prompt (``v2_fewshot_8examples``),
2. the same model with a prompt made from the corrections (export -> prompts create),
3. the model fine-tuned on the corrections (``policy-desktop finetune``'s pipeline: LoRA in
   a child process, adapter loaded by llama.cpp) with its short prompt ``v3_tuned_short``;

the training time and the training child's peak RSS (goals: >= 80 % accuracy,
<= 30 min, <= 8 GB); and the per-decision time of the tuned model with its short prompt
against the default prompt, on the first ``--timing`` held-out situations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.llm import EngineSettings, PolicyModel
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    PromptVersion,
    build_system,
    build_user,
    load_policy,
)
from policy_desktop.export.options import FEWSHOT_FILE, ExportOptions
from policy_desktop.export.training import export_training_data
from policy_desktop.finetune.dataset import TUNED_PROMPT_VERSION, build_training_set
from policy_desktop.finetune.pipeline import FinetuneRequest, finetune
from policy_desktop.finetune.registry import ModelRegistry
from policy_desktop.finetune.settings import Event, Progress, Status, TrainSettings, Validation
from policy_desktop.finetune.synthetic import LabelledSituation, generate
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.vocabulary import DECISIONS


@dataclass(frozen=True)
class Measured:
    """Accuracy and timing of one model + prompt on some situations."""

    label: str
    accuracy: float
    per_decision: dict[str, float]
    seconds: list[float]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)


def _wrong(decision: str, index: int) -> str:
    others = [d for d in DECISIONS if d != decision]
    return others[index % len(others)]


def corrected_log(path: Path, items: Sequence[LabelledSituation]) -> PolicyDecisionLog:
    """A database where every item was answered wrongly and corrected by a reviewer."""
    log = PolicyDecisionLog(path)
    for index, item in enumerate(items):
        decision_id = log.log_decision(PolicyDecision(
            situation=item.situation, team_context=item.team_context,
            model_name="Gemma 3 270m", model_version="Q4_K_M",
            prompt_version=DEFAULT_PROMPT_VERSION, decision=_wrong(item.decision, index),
            classification="access_request", risk_level=item.risk_level,
            reasoning="The request looks routine."))
        log.mark_reviewed(decision_id, review_decision=item.decision,
                          review_reasoning=item.reasoning, reviewer="bench-reviewer")
    return log


def measure(label: str, settings: EngineSettings, version: PromptVersion, policy: str,
            items: Sequence[LabelledSituation]) -> Measured:
    """Decide every item; accuracy per decision and seconds per decision."""
    system = build_system(version, policy if version.include_policy else "")
    hits: dict[str, list[int]] = {d: [] for d in DECISIONS}
    seconds = []
    with PolicyModel(settings) as model:
        for item in items:
            started = time.perf_counter()
            answer = model.decide(system, build_user(item.situation, item.team_context))
            seconds.append(time.perf_counter() - started)
            hits[item.decision].append(int(answer.decision == item.decision))
    right = sum(sum(v) for v in hits.values())
    per = {d: sum(v) / len(v) for d, v in hits.items() if v}
    result = Measured(label, right / len(items), per, seconds)
    print(f"  {label}: accuracy {result.accuracy:.1%}, "
          f"median {result.median_seconds:.2f} s per decision", flush=True)
    return result


def corrections_prompt(log: PolicyDecisionLog, scratch: Path, catalog: PromptCatalog
                       ) -> PromptVersion:
    """Export the corrections and make a prompt version from the chosen examples."""
    export_training_data(log, scratch / "export", ExportOptions(formats={"fewshot"}))
    return catalog.create("bench_corrections", scratch / "export" / FEWSHOT_FILE)


def _printer(event: Event) -> None:
    if isinstance(event, Status):
        print(f"  {event.text}", flush=True)
    elif isinstance(event, Validation):
        print(f"  validation at step {event.step}: loss {event.loss:.4f}, "
              f"accuracy {event.accuracy:.1%}", flush=True)
    elif isinstance(event, Progress) and (event.step % 10 == 0 or event.step == 1):
        print(f"  step {event.step}/{event.total_steps} loss {event.loss:.4f}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corrections", type=int, default=200)
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--decision-weight", type=float, default=5.0)
    parser.add_argument("--timing", type=int, default=40,
                        help="held-out situations for the short-vs-default timing")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"load average before the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    items = generate(args.corrections + args.held_out, seed=args.seed)
    train_items, held = items[::2][:args.corrections], items[1::2][:args.held_out]
    if len(train_items) < args.corrections:  # uneven request: fill from the rest
        train_items, held = items[:args.corrections], items[args.corrections:]
    base = bundled_model_path(on_status=print)
    policy = load_policy()
    engine = EngineSettings(model_path=base, n_threads=args.threads)
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as scratch_name:
        scratch = Path(scratch_name)
        catalog = PromptCatalog(custom_dir=scratch / "prompts")
        log = corrected_log(scratch / "decisions.db", train_items)
        if not args.skip_baselines:
            print("Bundled model, default prompt:", flush=True)
            results.append(measure("bundled + default prompt", engine,
                                   catalog.get(DEFAULT_PROMPT_VERSION), policy, held))
            print("Bundled model, prompt from the corrections:", flush=True)
            fewshot = corrections_prompt(log, scratch, catalog)
            results.append(measure("bundled + corrections prompt", engine, fewshot, policy, held))

        print("Fine-tuning:", flush=True)
        data = build_training_set(log)
        settings = TrainSettings(epochs=args.epochs, learning_rate=args.learning_rate,
                                 decision_weight=args.decision_weight, threads=args.threads,
                                 seed=args.seed)
        request = FinetuneRequest(data=data, base_model=base, name="bench-tuned",
                                  settings=settings, overwrite=True)
        started = time.perf_counter()
        outcome, model = finetune(request, _printer,
                                  registry=ModelRegistry(scratch / "models"))
        wall = time.perf_counter() - started
        assert model is not None
        print(f"  trained in {outcome.train_seconds / 60:.1f} min, peak RSS "
              f"{outcome.peak_rss_mb / 1024:.2f} GB, adapter {model.adapter_path}", flush=True)
        tuned = EngineSettings(model_path=base, n_threads=args.threads,
                               lora_path=model.adapter_path)
        print("Fine-tuned model, short prompt:", flush=True)
        results.append(measure("fine-tuned + short prompt", tuned,
                               catalog.get(TUNED_PROMPT_VERSION), policy, held))
        print("Fine-tuned model, default prompt (timing sample):", flush=True)
        timing_default = measure("fine-tuned + default prompt", tuned,
                                 catalog.get(DEFAULT_PROMPT_VERSION), policy,
                                 held[:args.timing])
        log.close()

    short = results[-1]
    print(f"\nHeld-out decision accuracy ({len(held)} situations never trained on; "
          f"{len(train_items)} corrections):")
    for result in results:
        per = "  ".join(f"{d} {v:.0%}" for d, v in result.per_decision.items())
        print(f"  {result.label:<30} {result.accuracy:6.1%}   ({per})")
    goal = "met" if short.accuracy >= 0.8 else "NOT met"
    print(f"  goal >= 80 % for the fine-tuned model: {goal}")
    before, after = outcome.before, outcome.after
    if before is not None and after is not None:
        print(f"Validation split inside training: accuracy {before.accuracy:.1%} -> "
              f"{after.accuracy:.1%}, loss {before.loss:.3f} -> {after.loss:.3f} "
              f"(best step {outcome.best_step} of {outcome.steps}, {outcome.status})")
    print(f"Training: {outcome.train_seconds / 60:.1f} min in the child "
          f"({wall / 60:.1f} min with start-up), peak RSS {outcome.peak_rss_mb / 1024:.2f} GB "
          f"(goals <= 30 min, <= 8 GB)")
    timed = short.seconds[:args.timing]
    ratio = statistics.median(timing_default.seconds) / statistics.median(timed)
    print(f"Per-decision time of the tuned model on {len(timed)} situations (median): "
          f"short prompt {statistics.median(timed):.2f} s, default prompt "
          f"{timing_default.median_seconds:.2f} s (x{ratio:.2f}); first decision "
          f"{timed[0]:.2f} s vs {timing_default.seconds[0]:.2f} s")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
