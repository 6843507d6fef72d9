"""Old model vs tuned model on the held-out reviewed decisions ("the comparison that matters").

After a training, the validation split — reviewed decisions the adapter never trained on —
is decided again through llama.cpp by the old model (the base GGUF with its default prompt)
and by the tuned one (base + adapter with its short prompt). Each answer is right or wrong
against the reviewer's final decision; the two are compared pairwise with McNemar's exact
test and a 95 % interval for the accuracy difference
(:mod:`policy_desktop.engine.paired_stats`), overall and per decision.

Every decision runs in a model child process (:class:`~policy_desktop.engine.model_process.
ModelProcess`), one model at a time; nothing here imports llama.cpp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_desktop.engine.paired_stats import PairedComparison, paired_accuracy
from policy_desktop.engine.prompts import ANSWER_HEADER, SITUATION_HEADER
from policy_desktop.vocabulary import DECISIONS

ProgressFn = Callable[[str, int, int], None]
"""``(which model, done, total)`` after every decision."""


@dataclass(frozen=True)
class Decider:
    """One side of the comparison: what to load and the system prompt to send."""

    label: str
    settings: Any  # EngineSettings (kept untyped so this module stays import-light)
    system: str


@dataclass(frozen=True)
class Case:
    """A held-out reviewed decision: its id, situation block and the reviewer's decision."""

    case_id: str
    situation: str
    expected: str

    @property
    def user(self) -> str:
        """The prompt's per-situation part, as the runner sends it (``build_user``)."""
        return f"{SITUATION_HEADER}\n{self.situation}\n{ANSWER_HEADER}\n"


@dataclass(frozen=True)
class Comparison:
    """Both models' decisions on the same cases."""

    old_label: str
    new_label: str
    cases: tuple[Case, ...]
    old: tuple[str, ...]
    new: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    def paired(self, decision: str | None = None) -> PairedComparison:
        """McNemar and the 95 % interval, over all cases or those expecting ``decision``."""
        rows = [i for i, case in enumerate(self.cases)
                if decision is None or case.expected == decision]
        return paired_accuracy([self.old[i] == self.cases[i].expected for i in rows],
                               [self.new[i] == self.cases[i].expected for i in rows])

    def per_decision(self) -> dict[str, PairedComparison]:
        """:meth:`paired` for each expected decision that has cases."""
        present = {case.expected for case in self.cases}
        return {label: self.paired(label) for label in DECISIONS if label in present}

    def confusion(self, which: str) -> dict[str, dict[str, int]]:
        """Expected decision -> decided -> count, for ``"old"`` or ``"new"``."""
        decided = self.old if which == "old" else self.new
        table: dict[str, dict[str, int]] = {}
        for case, answer in zip(self.cases, decided, strict=True):
            row = table.setdefault(case.expected, {})
            row[answer] = row.get(answer, 0) + 1
        return table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``model.json`` and reports)."""
        overall = self.paired()
        return {
            "old": self.old_label, "new": self.new_label, "cases": len(self.cases),
            "overall": _paired_dict(overall),
            "per_decision": {k: _paired_dict(v) for k, v in self.per_decision().items()},
            "confusion_old": self.confusion("old"), "confusion_new": self.confusion("new"),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "decisions": [{"id": c.case_id, "expected": c.expected, "old": o, "new": n}
                          for c, o, n in zip(self.cases, self.old, self.new, strict=True)],
        }


def _paired_dict(value: PairedComparison) -> dict[str, Any]:
    return {"n": value.n, "accuracy_old": value.accuracy_a, "accuracy_new": value.accuracy_b,
            "old_only_right": value.b, "new_only_right": value.c, "p_value": value.p_value,
            "difference": value.difference, "ci_low": value.ci_low, "ci_high": value.ci_high}


class ComparisonCancelled(Exception):
    """``should_stop`` asked the comparison to stop."""


def decide_all(decider: Decider, cases: Sequence[Case], *,
               on_progress: ProgressFn | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_status: Callable[[str], None] | None = None) -> tuple[list[str], float]:
    """Every case's decision by ``decider`` (in a model child process) and the seconds taken.

    Raises:
        ComparisonCancelled: ``should_stop`` said so (the child is closed).
    """
    import time

    from policy_desktop.engine.llm import Cancelled
    from policy_desktop.engine.model_process import ModelProcess

    started = time.perf_counter()
    decided: list[str] = []
    with ModelProcess(decider.settings, on_status=on_status) as model:
        for index, case in enumerate(cases):
            if should_stop is not None and should_stop():
                raise ComparisonCancelled("stopped by request")
            try:
                answer = model.decide(decider.system, case.user, should_stop=should_stop)
            except Cancelled:
                raise ComparisonCancelled("stopped by request") from None
            decided.append(answer.decision)
            if on_progress is not None:
                on_progress(decider.label, index + 1, len(cases))
    return decided, time.perf_counter() - started


def compare(old: Decider, new: Decider, cases: Sequence[Case], *,
            on_progress: ProgressFn | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_status: Callable[[str], None] | None = None) -> Comparison:
    """Decide ``cases`` with the old model, then with the new one; see the module docstring."""
    old_decided, old_seconds = decide_all(old, cases, on_progress=on_progress,
                                          should_stop=should_stop, on_status=on_status)
    new_decided, new_seconds = decide_all(new, cases, on_progress=on_progress,
                                          should_stop=should_stop, on_status=on_status)
    return Comparison(old_label=old.label, new_label=new.label, cases=tuple(cases),
                      old=tuple(old_decided), new=tuple(new_decided),
                      seconds={old.label: old_seconds, new.label: new_seconds})


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _signed_points(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}"


def describe(comparison: Comparison) -> list[str]:
    """Plain-text lines: overall and per-decision old/new accuracy, McNemar p, 95 % CI."""
    overall = comparison.paired()
    lines = [
        f"Held-out reviewed decisions ({overall.n}, never trained on): "
        f"old {comparison.old_label} {_percent(overall.accuracy_a)}, "
        f"new {comparison.new_label} {_percent(overall.accuracy_b)}",
        f"  difference {_signed_points(overall.difference)} points, 95 % CI "
        f"[{_signed_points(overall.ci_low)}, {_signed_points(overall.ci_high)}]; "
        f"McNemar exact p = {overall.p_value:.3g} ({overall.c} fixed, {overall.b} broken)",
    ]
    for label, value in comparison.per_decision().items():
        lines.append(f"  {label:<20} n={value.n:<4} old {_percent(value.accuracy_a):>8}  "
                     f"new {_percent(value.accuracy_b):>8}  p = {value.p_value:.3g}")
    return lines


def cases_from_examples(examples: Sequence[Any]) -> list[Case]:
    """:class:`Case` rows from training examples (``decision_id``, ``situation``, ``decision``)."""
    return [Case(case_id=e.decision_id, situation=e.situation, expected=e.decision)
            for e in examples]


COMPARISON_FILE = "comparison.json"


def deciders(model: Any, *, n_threads: int | None = None,
             old_prompt_version: str | None = None) -> tuple[Decider, Decider]:
    """``(old, new)`` for a registered model: its base GGUF with the default prompt (policy
    and examples), and base + adapter with the prompt it was trained with."""
    from policy_desktop.engine.llm import EngineSettings
    from policy_desktop.engine.prompts import (
        DEFAULT_PROMPT_VERSION,
        PromptCatalog,
        build_system,
        load_policy,
    )

    catalog = PromptCatalog()
    policy = load_policy()
    choice = model.choice()
    old_version = catalog.get(old_prompt_version or DEFAULT_PROMPT_VERSION)
    new_version = catalog.get(choice.prompt_version)
    old = Decider(label=f"base + {old_version.name}",
                  settings=EngineSettings(model_path=choice.base_model, n_threads=n_threads),
                  system=build_system(old_version, policy if old_version.include_policy else ""))
    new = Decider(label=f"{choice.name} + {new_version.name}",
                  settings=EngineSettings(model_path=choice.base_model, n_threads=n_threads,
                                          lora_path=choice.lora_path,
                                          label=(choice.model_name, choice.model_version)),
                  system=build_system(new_version, policy if new_version.include_policy else ""))
    return old, new


def save(model: Any, comparison: Comparison) -> Any:
    """Write ``comparison.json`` beside the model's ``model.json`` (atomically); its path."""
    import json
    import os

    target = model.folder / COMPARISON_FILE
    partial = target.with_name(f".{COMPARISON_FILE}.{os.getpid()}.partial")
    partial.write_text(json.dumps(comparison.to_dict(), indent=2) + "\n", encoding="utf-8")
    partial.replace(target)
    return target
