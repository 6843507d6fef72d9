"""What a training export writes and how: :class:`ExportOptions` and the file names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_desktop.engine.prompts import DEFAULT_PROMPT_VERSION
from policy_desktop.export.fewshot_selection import EmbedFn
from policy_desktop.export.token_budget import TokenCounter
from policy_desktop.vocabulary import TRAINING_GATE

FEWSHOT_FILE = "fewshot_examples.txt"
SEED_JSON_FILE = "finetuning_dataset.json"
CHAT_FILE = "finetuning_chat.jsonl"
DPO_FILE = "dpo_pairs.jsonl"
PROVENANCE_FILE = "provenance.jsonl"
REPORT_FILE = "analysis_report.json"
MANIFEST_FILE = "manifest.json"

FORMAT_FILES: dict[str, str] = {
    "fewshot": FEWSHOT_FILE,
    "seed_json": SEED_JSON_FILE,
    "chat_jsonl": CHAT_FILE,
    "dpo": DPO_FILE,
}
"""Optional formats and their files; the report and the manifest are always written."""

ALL_FORMATS: frozenset[str] = frozenset(FORMAT_FILES)

ProgressFn = Callable[[str, float], None]
"""Called with a stage text and the overall progress between 0 and 1."""
StopFn = Callable[[], bool]
"""Polled during the export; returning True cancels it (nothing is written)."""


class ExportCancelled(Exception):
    """``should_stop`` asked the export to stop; no output was left behind."""


@dataclass(frozen=True)
class ExportOptions:
    """Choices for :func:`~policy_desktop.export.training.export_training_data`.

    Attributes:
        fewshot_count: few-shot examples to select (at least 1).
        min_corrections: the training gate; may be raised above 50, never lowered.
        include_accepted: also put decisions reviewers accepted as correct into the
            supervised files (``finetuning_dataset.json`` and ``finetuning_chat.jsonl``).
        allow_suite_examples: keep corrections of situations of the evaluation suite.
        scenarios_path: the suite whose situations are excluded (``None``: the shipped one).
        force: replace a non-empty output folder.
        formats: which of :data:`FORMAT_FILES` to write.
        prompt_version: prompt version whose instructions and examples build the prompts.
        policy_path: policy text file (``None``: the shipped policy).
        context_size: the target model's context in tokens: the few-shot examples are
            chosen to fit it with the policy, one situation and the answer (``None``: no
            budget).
        excluded_examples: decision ids the reviewer left out of the few-shot examples
            (the selection picks others instead).
        embed: embedding function for the few-shot selection (``None``: MiniLM).
        count_tokens: token counter for the budget (``None``: the conservative
            approximation, :func:`~policy_desktop.export.token_budget.approximate_tokens`).
        on_progress: progress callback (stage text, 0..1); may be called from a worker.
        should_stop: cancellation poll; raises :class:`ExportCancelled` when it says yes.
    """

    fewshot_count: int = 8
    min_corrections: int = TRAINING_GATE
    include_accepted: bool = False
    allow_suite_examples: bool = False
    scenarios_path: Path | None = None
    force: bool = False
    formats: frozenset[str] = ALL_FORMATS
    prompt_version: str = DEFAULT_PROMPT_VERSION
    policy_path: Path | None = None
    context_size: int | None = None
    excluded_examples: frozenset[str] = frozenset()
    embed: EmbedFn | None = field(default=None, compare=False)
    count_tokens: TokenCounter | None = field(default=None, compare=False)
    on_progress: ProgressFn | None = field(default=None, compare=False)
    should_stop: StopFn | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", frozenset(self.formats))
        object.__setattr__(self, "excluded_examples", frozenset(self.excluded_examples))
        if self.context_size is not None and (isinstance(self.context_size, bool)
                                              or not isinstance(self.context_size, int)
                                              or self.context_size < 256):
            raise ValueError(f"context_size must be an int of at least 256, "
                             f"got {self.context_size!r}")
        if isinstance(self.min_corrections, bool) or not isinstance(self.min_corrections, int):
            raise ValueError(f"min_corrections must be an int, got {self.min_corrections!r}")
        if self.min_corrections < TRAINING_GATE:
            raise ValueError(f"min_corrections cannot be lowered below {TRAINING_GATE} "
                             f"(got {self.min_corrections})")
        if isinstance(self.fewshot_count, bool) or not isinstance(self.fewshot_count, int) \
                or self.fewshot_count < 1:
            raise ValueError(f"fewshot_count must be at least 1, got {self.fewshot_count!r}")
        unknown = sorted(self.formats - ALL_FORMATS)
        if unknown:
            raise ValueError(f"unknown formats: {', '.join(unknown)} "
                             f"(choose from {', '.join(sorted(ALL_FORMATS))})")

    def wants(self, fmt: str) -> bool:
        """Whether the format ``fmt`` is written."""
        return fmt in self.formats

    @property
    def writes_provenance(self) -> bool:
        """Provenance lines accompany the chat and DPO files."""
        return bool(self.formats & {"chat_jsonl", "dpo"})

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (callbacks left out) for the manifest."""
        return {
            "fewshot_count": self.fewshot_count,
            "min_corrections": self.min_corrections,
            "include_accepted": self.include_accepted,
            "allow_suite_examples": self.allow_suite_examples,
            "scenarios": str(self.scenarios_path) if self.scenarios_path else None,
            "force": self.force,
            "formats": sorted(self.formats),
            "prompt_version": self.prompt_version,
            "policy": str(self.policy_path) if self.policy_path else None,
            "context_size": self.context_size,
            "excluded_examples": sorted(self.excluded_examples),
        }
