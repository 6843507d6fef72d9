"""``policy-desktop finetune``: train a LoRA adapter on the reviewed corrections and register
it as a model version, then decide the held-out reviewed decisions again with the old and the
tuned model (McNemar's test); ``finetune list`` shows the registered models and
``finetune compare --name NAME`` repeats a model's comparison."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = ("fine-tune the local model on the reviewed corrections (LoRA) and compare it with the "
        "old one on held-out reviews, or list tuned models")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``finetune`` options."""
    parser.add_argument("action", nargs="?", choices=("train", "list", "compare"),
                        default="train",
                        help="train (the default), list the registered models, or compare "
                             "a registered model with the old one on its held-out reviews")
    parser.add_argument("--name", help="name of the new model version (required to train)")
    parser.add_argument("--from", dest="export_dir", metavar="EXPORT_DIR",
                        help="train on an existing export folder instead of the database")
    parser.add_argument("--model", metavar="PATH",
                        help="base GGUF model (default: the bundled Gemma 3 270M)")
    parser.add_argument("--include-accepted", action="store_true",
                        help="also train on decisions reviewers accepted as correct")
    parser.add_argument("--min-corrections", type=int, metavar="N",
                        help="training gate (at least 50)")
    parser.add_argument("--replace", action="store_true", help="replace a model of that name")
    parser.add_argument("--no-compare", action="store_true",
                        help="after training, skip deciding the held-out reviewed decisions "
                             "again with the old and the tuned model")
    parser.add_argument("--compare-prompt", metavar="VERSION",
                        help="the old model's prompt version in the comparison (default: the "
                             "default prompt)")
    group = parser.add_argument_group("training settings")
    for flag, kind, text in (
            ("--epochs", int, "passes over the training split (default 3)"),
            ("--rank", int, "LoRA rank (default 16)"),
            ("--alpha", float, "LoRA alpha (default 32)"),
            ("--learning-rate", float, "AdamW learning rate (default 1e-3)"),
            ("--batch-size", int, "examples per step (default 4)"),
            ("--max-steps", int, "stop after N steps"),
            ("--eval-every", int, "validate every N steps (default: each epoch)"),
            ("--patience", int, "validations without improvement before stopping (default 2)"),
            ("--validation", float, "held-out share of each decision (default 0.2)"),
            ("--seed", int, "seed of the split, shuffling and initialisation (default 0)"),
            ("--threads", int, "CPU threads (default: all cores)"),
            ("--lora-layers", int, "adapt only the last N decoder layers (default: all)")):
        group.add_argument(flag, type=kind, metavar="N" if kind is int else "X", help=text)
    group.add_argument("--full-answer", action="store_true",
                       help="train on the whole corrected answer, reasoning included (default: "
                            "the decision only, several times cheaper per step)")


_SETTING_FLAGS = {"epochs": "epochs", "rank": "rank", "alpha": "alpha",
                  "learning_rate": "learning_rate", "batch_size": "batch_size",
                  "max_steps": "max_steps", "eval_every": "eval_every", "patience": "patience",
                  "validation": "validation_fraction", "seed": "seed", "threads": "threads",
                  "lora_layers": "lora_layers"}


def run(args: argparse.Namespace) -> int:
    """Train or list; exit status 1 on a refused or failed training."""
    from policy_desktop.commands.common import error
    from policy_desktop.store import StoreError

    if args.action == "list":
        return _list()
    if not args.name:
        error(f"finetune {args.action} needs --name NAME")
        return 1
    try:
        return _compare_registered(args) if args.action == "compare" else _train(args)
    except (StoreError, ValueError, OSError) as problem:  # gate, data, registry, settings
        error(str(problem))
        return 1


def _settings(args: argparse.Namespace) -> Any:
    from policy_desktop.finetune.settings import TrainSettings

    chosen = {field: getattr(args, flag) for flag, field in _SETTING_FLAGS.items()
              if getattr(args, flag) is not None}
    if args.full_answer:
        chosen["decision_only"] = False
    return TrainSettings(**chosen)


def _data(args: argparse.Namespace) -> Any:
    from policy_desktop.commands.common import open_log
    from policy_desktop.finetune.dataset import build_training_set, load_export
    from policy_desktop.vocabulary import TRAINING_GATE

    if args.export_dir:
        return load_export(Path(args.export_dir))
    with open_log(args.db, create=False) as log:
        return build_training_set(log, include_accepted=args.include_accepted,
                                  min_corrections=args.min_corrections or TRAINING_GATE)


def _train(args: argparse.Namespace) -> int:
    from policy_desktop.commands.common import error, percent
    from policy_desktop.engine.bundled_model import bundled_model_path
    from policy_desktop.finetune.pipeline import FinetuneRequest, finetune
    from policy_desktop.finetune.process import TrainingFailed
    from policy_desktop.finetune.registry import ModelRegistry

    settings = _settings(args)
    registry = ModelRegistry()
    registry.check_new_name(args.name, overwrite=args.replace)
    data = _data(args)
    base = Path(args.model) if args.model else bundled_model_path(on_status=print)
    counts = ", ".join(f"{k} {v}" for k, v in data.per_decision().items())
    print(f"Training {args.name!r} on {len(data)} reviewed decisions ({counts}) "
          f"with prompt {data.prompt_version}; base {base}")
    request = FinetuneRequest(data=data, base_model=base, name=args.name, settings=settings,
                              overwrite=args.replace)
    try:
        outcome, model = finetune(request, _print_event, registry=registry)
    except TrainingFailed as failure:
        error(f"training failed: {failure}")
        return 1
    before, after = outcome.before, outcome.after
    if model is None:
        print(f"Cancelled at step {outcome.steps} of {outcome.total_steps}; the same command "
              "resumes from there.")
        return 1
    if before is not None and after is not None:
        print(f"Validation accuracy {percent(before.accuracy)} -> {percent(after.accuracy)} "
              f"(loss {before.loss:.3f} -> {after.loss:.3f}, best step {outcome.best_step}"
              f"{', stopped early' if outcome.status == 'stopped_early' else ''})")
    choice = model.choice()
    print(f"Registered {model.name!r} in {model.folder} ({outcome.train_seconds / 60:.1f} min, "
          f"peak memory {outcome.peak_rss_mb / 1024:.1f} GB)")
    print(f"  base {choice.base_model}\n  adapter {choice.lora_path}\n"
          f"  logged as {choice.model_name!r} / {choice.model_version!r}, "
          f"prompt {choice.prompt_version}")
    if not args.no_compare:
        from policy_desktop.finetune.pipeline import validation_split

        _compare(model, validation_split(request).examples, args)
    print(f"Run the scenario suite with it: policy-desktop run --model {model.name} --full")
    return 0


def _compare(model: Any, examples: Any, args: argparse.Namespace) -> bool:
    """Decide ``examples`` with the old and the tuned model; print and save the result.

    A failure is reported and returns False (a trained model stays registered).
    """
    from policy_desktop.commands.common import error
    from policy_desktop.engine.model_process import ModelProcessError
    from policy_desktop.finetune import comparison

    cases = comparison.cases_from_examples(examples)
    if not cases:
        print("No held-out reviewed decisions to compare on.")
        return True

    def progress(label: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"  {label}: {done}/{total}", flush=True)

    try:
        old, new = comparison.deciders(model, n_threads=args.threads,
                                       old_prompt_version=args.compare_prompt)
        print(f"Deciding the {len(cases)} held-out reviewed decisions again: {old.label}, "
              f"then {new.label}…", flush=True)
        result = comparison.compare(old, new, cases, on_progress=progress)
    except (ValueError, OSError, ModelProcessError) as problem:
        error(f"the comparison failed: {problem}")
        return False
    for line in comparison.describe(result):
        print(line)
    print(f"  saved in {comparison.save(model, result)}")
    return True


def _compare_registered(args: argparse.Namespace) -> int:
    """``finetune compare --name NAME``: the model's held-out reviews (``validation_ids`` of
    its ``model.json``) from the database or ``--from``, decided by old and new again."""
    from policy_desktop.commands.common import error
    from policy_desktop.finetune.registry import ModelRegistry

    model = ModelRegistry().get(args.name)
    held = set(model.record.get("training_data", {}).get("validation_ids") or [])
    data = _data(args)
    examples = [e for e in data.examples if e.decision_id in held]
    if held and not examples:
        error(f"none of {args.name!r}'s {len(held)} held-out decisions is in this database")
        return 1
    return 0 if _compare(model, examples, args) else 1


def _print_event(event: Any) -> None:
    from policy_desktop.commands.common import percent
    from policy_desktop.finetune.settings import Progress, Status, Validation

    if isinstance(event, Status):
        print(event.text, flush=True)
    elif isinstance(event, Progress):
        left = "" if event.seconds_left is None else f"  ~{_duration(event.seconds_left)} left"
        print(f"step {event.step}/{event.total_steps}  epoch {event.epoch}  "
              f"loss {event.loss:.4f}{left}", flush=True)
    elif isinstance(event, Validation):
        mark = "  (best)" if event.improved else ""
        print(f"validation at step {event.step}: loss {event.loss:.4f}, "
              f"decision accuracy {percent(event.accuracy)}{mark}", flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _list() -> int:
    from policy_desktop.commands.common import percent
    from policy_desktop.finetune.registry import ModelRegistry, ModelRegistryError

    registry = ModelRegistry()
    names = registry.names()
    if not names:
        print(f"No fine-tuned models in {registry.root}")
        return 0
    for name in names:
        try:
            model = registry.get(name)
        except ModelRegistryError as problem:
            print(f"{name}: {problem}", file=sys.stderr)
            continue
        record = model.record
        result = record.get("result", {})
        before = (result.get("validation_before") or {}).get("accuracy")
        after = (result.get("validation_after") or {}).get("accuracy")
        data = record.get("training_data", {})
        print(f"{name}  {record.get('created', '?')}  {data.get('examples', '?')} examples  "
              f"validation {percent(before)} -> {percent(after)}  "
              f"prompt {record.get('prompt_version')}  base {record['base_model']['name']}")
    return 0
