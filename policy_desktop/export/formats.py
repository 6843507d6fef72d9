"""Record builders: one reviewed decision -> one record of each export file.

Choices, documented here once:

* **Answers** are one line of JSON from :func:`format_answer`, always with the four keys
  ``decision``, ``classification``, ``risk_level``, ``reasoning`` in that order (the
  answer format of the prompt and the fine-tuned model). The corrected answer takes the
  human's decision and reasoning (``final_decision``/``final_reasoning``) and the final
  labels (``final_classification``/``final_risk_level``): the reviewer's when given, the
  model's while its decision stands (accepted, or only the reasoning corrected), and
  ``null`` when the decision was corrected and the reviewer did not re-confirm or correct
  the label. The model's labels belonged to the decision it chose, so they never go into
  the human side of a corrected decision. ``null`` (rather than leaving the key out) keeps
  every training line in one format; it means "not known".
* **Seed JSON** (``finetuning_dataset.json``): ``prompt`` is the full completion prompt
  the runner builds for the situation (policy, instructions, the prompt version's few-shot
  examples, the situation block ending with ``### Answer``); ``response`` the corrected
  answer; ``metadata`` the seed's provenance keys.
* **Chat** (``finetuning_chat.jsonl``): ``system`` is the policy and the instructions
  *without* the few-shot examples: a fine-tuned model should not need them, and leaving
  them out halves every training example and keeps the dataset independent of one example
  set. ``user`` is the situation as ``key: value`` lines (:func:`format_situation`), the
  same text the prompt shows. ``assistant`` is the corrected answer. No other keys.
* **DPO** (``dpo_pairs.jsonl``, TRL's conversational preference format): ``prompt`` holds
  the same system and user turns as the chat file, ``chosen`` the corrected answer and
  ``rejected`` the model's original answer as it was (its own labels), rebuilt with
  :func:`format_answer` from the logged fields; for an unparseable answer the raw model
  output is the rejected text.
* **Few-shot examples** carry the same final labels as the corrected answer.
* **Provenance** stays out of the training lines (tools reject unknown keys) and goes to
  ``provenance.jsonl``: one line per chat or DPO line, naming file and line number.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_desktop.engine.prompts import (
    ANSWER_HEADER,
    PROMPT_SEPARATOR,
    SITUATION_HEADER,
    FewShotExample,
    PromptCatalog,
    build_system,
    format_answer,
    format_situation,
    load_policy,
)
from policy_desktop.export.fewshot_selection import Candidate
from policy_desktop.store.decision import PolicyDecision
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS

# Python's str.splitlines() also breaks at these; escape them so a JSON line stays one line.
_LINE_BREAK_ESCAPES = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


@dataclass(frozen=True)
class PromptContext:
    """The prompt parts every record shares.

    Attributes:
        prompt_version: name of the prompt version used.
        completion_system: policy, instructions and examples (the runner's prompt prefix).
        chat_system: policy and instructions, without examples (the chat ``system`` turn).
    """

    prompt_version: str
    completion_system: str
    chat_system: str

    @classmethod
    def load(cls, prompt_version: str, policy_path: Path | None = None,
             catalog: PromptCatalog | None = None) -> PromptContext:
        """Read the policy and the prompt version (raises ``PromptError`` if broken)."""
        version = (catalog or PromptCatalog()).get(prompt_version)
        policy = load_policy(policy_path)
        chat_system = f"{policy.strip()}\n\n## Instructions\n{version.instructions.strip()}"
        return cls(prompt_version=version.name, completion_system=build_system(version, policy),
                   chat_system=chat_system)


def json_line(record: Any) -> str:
    """``record`` as one line of JSON (UTF-8 kept, every line break escaped) plus ``\\n``."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAK_ESCAPES) + "\n"


class LineEncoder:
    """:func:`json_line` for records that repeat a few long strings (the system prompts).

    Each long string is encoded once. In a record, a string that starts with one of them
    gets a short random placeholder in place of that prefix before encoding, and the
    placeholder's encoded form is then swapped for the long string's. The result is
    exactly ``json_line(record)``, several times faster for prompt-sized constants.
    """

    def __init__(self, constants: Sequence[str]) -> None:
        token = secrets.token_hex(8)
        ordered = sorted({c for c in constants if c}, key=len, reverse=True)  # longest first
        self._marks = [(text, f"\x00{token}:{i}\x00") for i, text in enumerate(ordered)]
        self._swaps = [(_encoded(mark), _encoded(text)) for text, mark in self._marks]

    def line(self, record: Any) -> str:
        """``json_line(record)``."""
        text = json_line(self._marked(record))
        for mark, encoded in self._swaps:
            text = text.replace(mark, encoded)
        return text

    def _marked(self, value: Any) -> Any:
        if isinstance(value, str):
            for text, mark in self._marks:
                if value.startswith(text):
                    return mark + value[len(text):]
            return value
        if isinstance(value, dict):
            return {key: self._marked(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._marked(item) for item in value]
        return value


def _encoded(text: str) -> str:
    """``text`` as the inside of a JSON string, as :func:`json_line` writes it."""
    return json.dumps(text, ensure_ascii=False).translate(_LINE_BREAK_ESCAPES)[1:-1]


def has_reasoning(decision: PolicyDecision) -> bool:
    """Whether the final (corrected or model) reasoning has any text."""
    return bool((decision.final_reasoning or "").strip())


def usable(decision: PolicyDecision) -> bool:
    """Whether the decision can teach anything: a real final decision and a situation.

    Not so for a reasoning-only correction of an unparseable answer (its final decision
    stays ``unparseable``) or an empty situation.
    """
    return decision.final_decision in DECISIONS and bool(decision.situation)


def fewshot_ready(decision: PolicyDecision) -> bool:
    """Whether the decision can be written as a few-shot example the prompt parser accepts."""
    classification = decision.final_classification
    classification_ok = classification is None or isinstance(classification, str)
    return classification_ok and decision.final_risk_level in (None, *RISK_LEVELS)


def corrected_answer(decision: PolicyDecision) -> str:
    """The answer the model should have given: the human decision and reasoning with the
    final labels (``null`` where a corrected decision's labels were not given)."""
    return format_answer(decision.final_decision, decision.final_classification,
                         decision.final_risk_level, decision.final_reasoning)


def original_answer(decision: PolicyDecision) -> str | None:
    """The model's own answer, or its raw output if unparseable (``None`` if empty)."""
    if decision.decision in DECISIONS:
        return format_answer(decision.decision, decision.classification, decision.risk_level,
                             decision.reasoning)
    raw = (decision.full_response or "").strip()
    return raw or None


@dataclass(frozen=True)
class Rendered:
    """A reviewed decision with the texts several files share, rendered once.

    Attributes:
        decision: the stored decision.
        situation: the situation as the prompt shows it (:func:`format_situation`).
        corrected: :func:`corrected_answer`.
        original: :func:`original_answer`.
    """

    decision: PolicyDecision
    situation: str
    corrected: str
    original: str | None

    @classmethod
    def of(cls, decision: PolicyDecision) -> Rendered:
        """Render ``decision``'s situation and both answers."""
        return cls(decision=decision,
                   situation=format_situation(decision.situation, decision.team_context),
                   corrected=corrected_answer(decision), original=original_answer(decision))

    @property
    def user_block(self) -> str:
        """The per-situation end of the completion prompt (equal to ``build_user``)."""
        return f"{SITUATION_HEADER}\n{self.situation}\n{ANSWER_HEADER}\n"

    @property
    def dpo_answers(self) -> tuple[str, str] | None:
        """``(chosen, rejected)``, or ``None`` when there is no distinct rejected answer."""
        if self.original is None or self.original == self.corrected:
            return None
        return self.corrected, self.original


def fewshot_example(decision: PolicyDecision) -> FewShotExample:
    """The corrected decision as a few-shot example."""
    return FewShotExample(
        situation=decision.situation, team_context=decision.team_context,
        decision=decision.final_decision, classification=decision.final_classification,
        risk_level=decision.final_risk_level, reasoning=decision.final_reasoning or "")


def fewshot_candidate(item: Rendered) -> Candidate:
    """What the few-shot selection compares: situation text plus the corrected reasoning."""
    decision = item.decision
    assert decision.decision_id is not None
    return Candidate(key=decision.decision_id, decision=decision.final_decision,
                     text=f"{item.situation}\n{decision.final_reasoning or ''}")


def seed_record(item: Rendered, context: PromptContext) -> dict[str, Any]:
    """One entry of ``finetuning_dataset.json`` (the seed's prompt/response format)."""
    decision = item.decision
    return {
        "prompt": context.completion_system + PROMPT_SEPARATOR + item.user_block,
        "response": item.corrected,
        "metadata": {
            "decision_id": decision.decision_id,
            "model_name": decision.model_name,
            "model_version": decision.model_version,
            "prompt_version": decision.prompt_version,
            "change_type": decision.review_action,
            "reviewer": decision.reviewer,
        },
    }


def _prompt_turns(item: Rendered, context: PromptContext) -> list[dict[str, str]]:
    return [{"role": "system", "content": context.chat_system},
            {"role": "user", "content": item.situation}]


def chat_record(item: Rendered, context: PromptContext) -> dict[str, Any]:
    """One line of ``finetuning_chat.jsonl``: system, user, assistant; nothing else."""
    messages = [*_prompt_turns(item, context), {"role": "assistant", "content": item.corrected}]
    return {"messages": messages}


def dpo_record(item: Rendered, context: PromptContext) -> dict[str, Any] | None:
    """One line of ``dpo_pairs.jsonl``, or ``None`` when there is no distinct rejected answer."""
    answers = item.dpo_answers
    if answers is None:
        return None
    chosen, rejected = answers
    return {
        "prompt": _prompt_turns(item, context),
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def provenance_record(decision: PolicyDecision, file: str, line: int) -> dict[str, Any]:
    """Where line ``line`` (1-based) of ``file`` came from."""
    return {
        "file": file,
        "line": line,
        "decision_id": decision.decision_id,
        "reviewer": decision.reviewer,
        "change_type": decision.review_action,
        "model_name": decision.model_name,
        "model_version": decision.model_version,
        "prompt_version": decision.prompt_version,
    }
