"""The training set: reviewed corrections, as the export writes them, in the tuned prompt.

The rows come from the export's chat dataset (:func:`build_training_set` runs the export
into a temporary folder; :func:`load_export` reads an existing export), so the export's
rules hold unchanged: the 50-correction gate, suite situations left out, unusable and
empty-reasoning decisions left out. Where a decision was reviewed several times the store's
effective review counts (the last one still in effect after undos) — what the export
writes; :func:`build_training_set` also records how many reviews each decision had and
whether they disagreed, for the model's provenance.

Each example becomes a completion: ``build_system(prompt version) + "\\n\\n" + situation
block`` as the prompt (what the runner sends) and the corrected answer line as the target.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from policy_desktop.engine.prompts import (
    ANSWER_HEADER,
    PROMPT_SEPARATOR,
    SITUATION_HEADER,
    PromptCatalog,
    build_system,
    load_policy,
)
from policy_desktop.export.options import CHAT_FILE, MANIFEST_FILE, PROVENANCE_FILE, ExportOptions
from policy_desktop.export.training import export_training_data
from policy_desktop.store.decision import UNDO_ACTION
from policy_desktop.store.log import PolicyDecisionLog, ReviewEvent
from policy_desktop.vocabulary import DECISIONS, TRAINING_GATE, canonical_json

TUNED_PROMPT_VERSION = "v3_tuned_short"
"""The short prompt (no policy text, no examples) a tuned model is trained and run with."""


class TrainingDataError(ValueError):
    """The export folder is missing a file or holds a line that cannot be trained on."""


@dataclass(frozen=True)
class TrainingExample:
    """One reviewed decision to learn from.

    Attributes:
        decision_id: the logged decision.
        situation: the situation as ``key: value`` lines (the prompt's situation block).
        answer: the corrected answer, one line of JSON starting with ``{"decision": "``.
        decision: the corrected decision (the validation label).
        reviewer: who made the review in effect.
        change_type: that review's action (``correct_decision``, ``accept``, ...).
        reviews: review events still in effect (more than one: re-reviewed).
        disagreement: whether those reviews chose different decisions.
    """

    decision_id: str
    situation: str
    answer: str
    decision: str
    reviewer: str | None = None
    change_type: str | None = None
    reviews: int = 1
    disagreement: bool = False

    def prompt(self, system: str) -> str:
        """The completion prompt the runner would send for this situation."""
        return f"{system}{PROMPT_SEPARATOR}{SITUATION_HEADER}\n{self.situation}\n{ANSWER_HEADER}\n"


@dataclass(frozen=True)
class TrainingSet:
    """Examples with the prompt they are trained in and where they came from."""

    examples: tuple[TrainingExample, ...]
    system: str
    prompt_version: str
    export_manifest: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def sha256(self) -> str:
        """Hash of exactly what is trained on (system prompt, situations, answers, ids)."""
        rows = [[e.decision_id, e.situation, e.answer] for e in self.examples]
        text = canonical_json({"system": self.system, "examples": rows})
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def per_decision(self) -> dict[str, int]:
        """Examples per corrected decision, in :data:`DECISIONS` order."""
        counts = {label: 0 for label in DECISIONS}
        for example in self.examples:
            counts[example.decision] += 1
        return counts

    def provenance(self) -> dict[str, Any]:
        """Which reviews and reviewers shaped the data (for the model's ``model.json``)."""
        reviewers: dict[str, int] = defaultdict(int)
        for example in self.examples:
            reviewers[example.reviewer or "(unnamed)"] += 1
        return {
            "examples": len(self.examples),
            "per_decision": self.per_decision(),
            "reviewers": dict(sorted(reviewers.items())),
            "re_reviewed": sum(e.reviews > 1 for e in self.examples),
            "disagreements_resolved_by_last_review": sum(e.disagreement for e in self.examples),
            "decisions": [{"decision_id": e.decision_id, "reviewer": e.reviewer,
                           "change_type": e.change_type, "decision": e.decision}
                          for e in self.examples],
        }

    def split(self, validation_fraction: float = 0.2, seed: int = 0
              ) -> tuple[TrainingSet, TrainingSet]:
        """``(train, validation)``, stratified by decision, deterministic for a seed.

        Each decision keeps ``round(n * fraction)`` of its examples for validation, at
        least one when it has two or more, so every label is measured when it can be.
        """
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        by_label: dict[str, list[TrainingExample]] = defaultdict(list)
        for example in self.examples:
            by_label[example.decision].append(example)
        held: set[str] = set()
        for label in DECISIONS:
            group = sorted(by_label[label], key=lambda e: _shuffle_key(seed, e.decision_id))
            count = round(len(group) * validation_fraction)
            if validation_fraction > 0 and len(group) >= 2:
                count = max(1, min(count, len(group) - 1))
            held.update(e.decision_id for e in group[:count])
        train = tuple(e for e in self.examples if e.decision_id not in held)
        validation = tuple(e for e in self.examples if e.decision_id in held)
        return replace(self, examples=train), replace(self, examples=validation)


def _shuffle_key(seed: int, decision_id: str) -> str:
    return hashlib.sha256(f"{seed}:{decision_id}".encode()).hexdigest()


def tuned_system(prompt_version: str = TUNED_PROMPT_VERSION, policy_path: Path | None = None,
                 catalog: PromptCatalog | None = None) -> str:
    """The system part of the prompt version the model is trained with."""
    version = (catalog or PromptCatalog()).get(prompt_version)
    policy = load_policy(policy_path) if version.include_policy else ""
    return build_system(version, policy)


def load_export(folder: Path | str, *, prompt_version: str = TUNED_PROMPT_VERSION,
                policy_path: Path | None = None,
                catalog: PromptCatalog | None = None) -> TrainingSet:
    """The training set from an export folder (its chat dataset, provenance and manifest)."""
    folder = Path(folder)
    manifest = _read_json(folder / MANIFEST_FILE)
    chat = _read_lines(folder / CHAT_FILE)
    provenance = {(row.get("file"), row.get("line")): row
                  for row in _read_lines(folder / PROVENANCE_FILE)}
    examples = []
    for line_number, record in enumerate(chat, start=1):
        origin = provenance.get((CHAT_FILE, line_number))
        if origin is None or not origin.get("decision_id"):
            raise TrainingDataError(f"{folder / PROVENANCE_FILE}: no entry for "
                                    f"{CHAT_FILE} line {line_number}")
        examples.append(_example(record, origin, f"{folder / CHAT_FILE}:{line_number}"))
    system = tuned_system(prompt_version, policy_path, catalog)
    return TrainingSet(examples=tuple(examples), system=system, prompt_version=prompt_version,
                       export_manifest=manifest)


def _example(record: Any, origin: dict[str, Any], where: str) -> TrainingExample:
    try:
        turns = {turn["role"]: turn["content"] for turn in record["messages"]}
        situation, answer = turns["user"], turns["assistant"]
        decision = json.loads(answer)["decision"]
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingDataError(f"{where}: not a chat line with a JSON answer ({exc})") from None
    if decision not in DECISIONS:
        raise TrainingDataError(f"{where}: decision {decision!r} is not one of the four")
    return TrainingExample(decision_id=origin["decision_id"], situation=situation,
                           answer=answer, decision=decision, reviewer=origin.get("reviewer"),
                           change_type=origin.get("change_type"))


def build_training_set(log: PolicyDecisionLog, *, include_accepted: bool = False,
                       min_corrections: int = TRAINING_GATE,
                       prompt_version: str = TUNED_PROMPT_VERSION,
                       policy_path: Path | None = None, scenarios_path: Path | None = None,
                       catalog: PromptCatalog | None = None) -> TrainingSet:
    """Export the reviewed decisions' chat dataset and read it back as a training set.

    Raises:
        TrainingGateError: fewer than ``min_corrections`` corrections (nothing written).
    """
    options = ExportOptions(formats=frozenset({"chat_jsonl"}), include_accepted=include_accepted,
                            min_corrections=min_corrections, policy_path=policy_path,
                            scenarios_path=scenarios_path)
    with tempfile.TemporaryDirectory(prefix="policy-desktop-finetune-") as scratch:
        target = Path(scratch) / "export"
        export_training_data(log, target, options)
        data = load_export(target, prompt_version=prompt_version, policy_path=policy_path,
                           catalog=catalog)
    return replace(data, examples=tuple(_with_history(log, e) for e in data.examples))


def _with_history(log: PolicyDecisionLog, example: TrainingExample) -> TrainingExample:
    """Count the reviews still in effect (undone ones popped, as the store applies them)."""
    effective: list[ReviewEvent] = []
    for event in log.get_review_history(example.decision_id):
        if event.action != UNDO_ACTION:
            effective.append(event)
        elif effective:
            effective.pop()
    chosen = {e.review_decision for e in effective if e.review_decision is not None}
    return replace(example, reviews=max(1, len(effective)), disagreement=len(chosen) > 1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingDataError(f"{path}: missing (is this an export folder?)") from None
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(value, dict):
        raise TrainingDataError(f"{path}: not a JSON object")
    return value


def _read_lines(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingDataError(f"{path}: missing (export with the chat format)") from None
    except OSError as exc:
        raise TrainingDataError(f"{path}: cannot be read ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise TrainingDataError(f"{path}:{number}: not JSON ({exc})") from None
    return rows

