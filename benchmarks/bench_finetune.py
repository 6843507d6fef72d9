"""Does fine-tuning on reviewed corrections make the bundled model decide better?

Run: ``.venv/bin/python benchmarks/bench_finetune.py [--corrections 250] [--held-out 200]
[--epochs 2] [--timing 40] [--threads N]``

Situations come from :mod:`policy_desktop.finetune.synthetic` (rules 1-10 of the default
policy, a quarter per decision). ``--corrections`` of them are logged as wrong model answers
and corrected by a reviewer in a scratch database (the training keeps 20 % of each decision
for its own validation split, so 250 corrections train on 200); ``--held-out`` others,
checked by fingerprint to share no situation with the corrections, are never seen in
training. In one run it reports, on the held-out set, the decision accuracy of

1. the bundled Gemma 3 270M with the default prompt (``v2_fewshot_8examples``),
2. the same model with a prompt made from the corrections (export -> prompts create),
3. the model fine-tuned on the corrections (``policy-desktop finetune``'s pipeline: LoRA in
   a child process, adapter loaded by llama.cpp) with its short prompt ``v3_tuned_short``;

the training time and the training child's peak RSS (goals: >= 80 % accuracy,
<= 30 min, <= 8 GB); and the per-decision time of the tuned model with its short prompt
against the default prompt, on the first ``--timing`` held-out situations. For each
model it prints the confusion matrix and the errors per deciding rule, and McNemar's exact
test with a 95 % interval for the tuned model against the bundled one (paired, same
situations). Load averages are printed beside the times: the machine may be shared.
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
from policy_desktop.engine.paired_stats import paired_accuracy
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    PromptVersion,
    build_system,
    build_user,
    format_situation,
    load_policy,
)
from policy_desktop.export.options import FEWSHOT_FILE, ExportOptions
from policy_desktop.export.training import export_training_data
from policy_desktop.finetune.dataset import TUNED_PROMPT_VERSION, build_training_set
from policy_desktop.finetune.pipeline import FinetuneRequest, finetune
from policy_desktop.finetune.registry import ModelRegistry
from policy_desktop.finetune.settings import Event, Progress, Status, TrainSettings, Validation
from policy_desktop.finetune.synthetic import RULE_DECISIONS, LabelledSituation, generate, split
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.vocabulary import DECISIONS


@dataclass(frozen=True)
class Measured:
    """Accuracy and timing of one model + prompt on some situations."""

    label: str
    accuracy: float
    per_decision: dict[str, float]
    seconds: list[float]
    decided: list[str]
    expected: list[str]
    rules: list[int]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def right(self) -> list[bool]:
        return [d == e for d, e in zip(self.decided, self.expected, strict=True)]

    def confusion_lines(self) -> list[str]:
        """Expected (rows) x decided (columns), then errors per deciding rule."""
        short = {"allow": "allow", "deny": "deny", "require_attestation": "attest",
                 "require_mfa": "mfa"}
        columns = [*DECISIONS, "unparseable"]
        lines = ["    expected \\ decided  " + " ".join(f"{short.get(c, 'other'):>7}"
                                                     for c in columns)]
        for label in DECISIONS:
            row = [sum(1 for d, e in zip(self.decided, self.expected, strict=True)
                       if e == label and (d == c or (c == "unparseable" and d not in DECISIONS)))
                   for c in columns]
            lines.append(f"    {label:<21}" + " ".join(f"{n:>7}" for n in row))
        errors = []
        for rule in sorted(RULE_DECISIONS):
            total = sum(1 for r in self.rules if r == rule)
            wrong = sum(1 for r, ok in zip(self.rules, self.right, strict=True)
                        if r == rule and not ok)
            if total:
                errors.append(f"r{rule} {wrong}/{total}")
        lines.append("    errors per rule: " + ", ".join(errors))
        return lines


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
    seconds, decided = [], []
    with PolicyModel(settings) as model:
        for item in items:
            started = time.perf_counter()
            answer = model.decide(system, build_user(item.situation, item.team_context))
            seconds.append(time.perf_counter() - started)
            decided.append(answer.decision)
            hits[item.decision].append(int(answer.decision == item.decision))
    right = sum(sum(v) for v in hits.values())
    per = {d: sum(v) / len(v) for d, v in hits.items() if v}
    result = Measured(label, right / len(items), per, seconds, decided,
                      [i.decision for i in items], [i.rule for i in items])
    load = os.getloadavg()[0]
    print(f"  {label}: accuracy {result.accuracy:.1%}, "
          f"median {result.median_seconds:.2f} s per decision (load {load:.1f})", flush=True)
    for line in result.confusion_lines():
        print(line, flush=True)
    return result


def corrections_prompt(log: PolicyDecisionLog, scratch: Path, catalog: PromptCatalog
                       ) -> PromptVersion:
    """Export the corrections and make a prompt version from the chosen examples."""
    export_training_data(log, scratch / "export", ExportOptions(formats=frozenset({"fewshot"})))
    return catalog.create("bench_corrections", scratch / "export" / FEWSHOT_FILE)


LOADS: list[float] = []


def _printer(event: Event) -> None:
    if isinstance(event, Progress):
        LOADS.append(os.getloadavg()[0])
    if isinstance(event, Status):
        print(f"  {event.text}", flush=True)
    elif isinstance(event, Validation):
        print(f"  validation at step {event.step}: loss {event.loss:.4f}, "
              f"accuracy {event.accuracy:.1%}", flush=True)
    elif isinstance(event, Progress) and (event.step % 10 == 0 or event.step == 1):
        print(f"  step {event.step}/{event.total_steps} loss {event.loss:.4f}", flush=True)


def outcome_train(outcome: object, model: object) -> str:
    """How many examples trained and validated (from the registered model's record)."""
    record = getattr(model, "record", {}).get("training_data", {})
    return f"{record.get('train', '?')} trained, {record.get('validation', '?')} validated"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corrections", type=int, default=250)
    parser.add_argument("--held-out", type=int, default=200)
    defaults = TrainSettings()
    # 2 epochs: 200 examples x 3 would pass 30 min on the shared 2 cores (measured ~10-15 s
    # a step at load 8); the command's default stays 3 (early stopping) for smaller sets
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--decision-weight", type=float, default=defaults.decision_weight)
    parser.add_argument("--decision-only", action=argparse.BooleanOptionalAction,
                        default=defaults.decision_only,
                        help="train on the decision alone (--no-decision-only: the whole answer)")
    parser.add_argument("--lora-layers", type=int, default=defaults.lora_layers)
    parser.add_argument("--max-steps", type=int, default=None, help="(smoke runs)")
    parser.add_argument("--timing", type=int, default=40,
                        help="held-out situations for the short-vs-default timing")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"load average before the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    # generate() deals the decisions in turn, so consecutive runs are balanced (every other
    # item would give one part deny/attestation and the other mfa/allow only)
    items = generate(args.corrections + args.held_out, seed=args.seed)
    train_items, held = split(items, args.corrections, args.held_out)
    base = bundled_model_path(on_status=print)
    policy = load_policy()
    engine = EngineSettings(model_path=base, n_threads=args.threads)
    results: list[Measured] = []
    # The tuned model first (training time and its accuracy are the goals), then the
    # timing sample, then the baselines: on a busy machine a late stop loses least.
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as scratch_name:
        scratch = Path(scratch_name)
        catalog = PromptCatalog(custom_dir=scratch / "prompts")
        log = corrected_log(scratch / "decisions.db", train_items)
        print("Fine-tuning:", flush=True)
        data = build_training_set(log)
        held_text = {format_situation(i.situation, i.team_context) for i in held}
        assert not held_text & {e.situation for e in data.examples}, "held-out leaked"
        settings = TrainSettings(epochs=args.epochs, learning_rate=args.learning_rate,
                                 decision_weight=args.decision_weight, threads=args.threads,
                                 seed=args.seed, decision_only=args.decision_only,
                                 lora_layers=args.lora_layers, max_steps=args.max_steps)
        print(f"  settings: {settings.to_dict()}", flush=True)
        request = FinetuneRequest(data=data, base_model=base, name="bench-tuned",
                                  settings=settings, overwrite=True)
        started = time.perf_counter()
        outcome, model = finetune(request, _printer,
                                  registry=ModelRegistry(scratch / "models"))
        wall = time.perf_counter() - started
        assert model is not None
        print(f"  trained in {outcome.train_seconds / 60:.1f} min, peak RSS "
              f"{outcome.peak_rss_mb / 1024:.2f} GB, {outcome_train(outcome, model)}, "
              f"adapter {model.adapter_path} ({model.adapter_path.stat().st_size} bytes)",
              flush=True)
        tuned = EngineSettings(model_path=base, n_threads=args.threads,
                               lora_path=model.adapter_path)
        print("Fine-tuned model, short prompt:", flush=True)
        short = measure("fine-tuned + short prompt", tuned,
                        catalog.get(TUNED_PROMPT_VERSION), policy, held)
        print("Fine-tuned model, default prompt (timing sample):", flush=True)
        timing_default = measure("fine-tuned + default prompt", tuned,
                                 catalog.get(DEFAULT_PROMPT_VERSION), policy,
                                 held[:args.timing])
        timed = short.seconds[:args.timing]
        ratio = statistics.median(timing_default.seconds) / statistics.median(timed)
        print(f"  per-decision time of the tuned model on {len(timed)} situations (median): "
              f"short prompt {statistics.median(timed):.2f} s, default prompt "
              f"{timing_default.median_seconds:.2f} s (x{ratio:.2f})", flush=True)
        if not args.skip_baselines:
            print("Bundled model, default prompt:", flush=True)
            results.append(measure("bundled + default prompt", engine,
                                   catalog.get(DEFAULT_PROMPT_VERSION), policy, held))
            print("Bundled model, prompt from the corrections:", flush=True)
            fewshot = corrections_prompt(log, scratch, catalog)
            results.append(measure("bundled + corrections prompt", engine, fewshot, policy, held))
        results.append(short)
        log.close()

    print(f"\nHeld-out decision accuracy ({len(held)} situations never trained on; "
          f"{len(train_items)} corrections, {outcome_train(outcome, model)}):")
    for result in results:
        per = "  ".join(f"{d} {v:.0%}" for d, v in result.per_decision.items())
        print(f"  {result.label:<30} {result.accuracy:6.1%}   ({per})")
        for line in result.confusion_lines():
            print(line)
    goal = "met" if short.accuracy >= 0.8 else "NOT met"
    print(f"  goal >= 80 % for the fine-tuned model: {goal}")
    if not args.skip_baselines:
        paired = paired_accuracy(results[0].right, short.right)
        assert paired.difference is not None and paired.ci_low is not None \
            and paired.ci_high is not None
        print(f"  tuned vs bundled+default, paired on the same {paired.n}: "
              f"{paired.difference * 100:+.1f} points, 95 % CI [{paired.ci_low * 100:+.1f}, "
              f"{paired.ci_high * 100:+.1f}], McNemar exact p = {paired.p_value:.3g} "
              f"({paired.c} fixed, {paired.b} broken)")
    before, after = outcome.before, outcome.after
    if before is not None and after is not None:
        print(f"Validation split inside training: accuracy {before.accuracy:.1%} -> "
              f"{after.accuracy:.1%}, loss {before.loss:.3f} -> {after.loss:.3f} "
              f"(best step {outcome.best_step} of {outcome.steps}, {outcome.status})")
    during = f", load average during training {statistics.mean(LOADS):.1f} " \
             f"(min {min(LOADS):.1f}, max {max(LOADS):.1f})" if LOADS else ""
    print(f"Training: {outcome.train_seconds / 60:.1f} min in the child "
          f"({wall / 60:.1f} min with start-up), peak RSS {outcome.peak_rss_mb / 1024:.2f} GB "
          f"(goals <= 30 min, <= 8 GB){during}")
    print(f"Settings: {settings.to_dict()}")
    print(f"Per-decision time of the tuned model on {len(timed)} situations (median): "
          f"short prompt {statistics.median(timed):.2f} s, default prompt "
          f"{timing_default.median_seconds:.2f} s (x{ratio:.2f}); first decision "
          f"{timed[0]:.2f} s vs {timing_default.seconds[0]:.2f} s")
    load = os.getloadavg()
    print(f"load average after the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
