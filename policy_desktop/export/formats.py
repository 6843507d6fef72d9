"""Record builders: one reviewed decision -> one record of each export file.

Choices, documented here once:

* **Answers** are one line of JSON from :func:`format_answer` (keys ``decision``,
  ``classification``, ``risk_level``, ``reasoning``). The corrected answer takes the
  human's decision and reasoning (``final_decision``/``final_reasoning``) and the model's
  classification and risk level (reviewers do not correct those).
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
  ``rejected`` the model's original answer, rebuilt with :func:`format_answer` from the
  logged fields; for an unparseable answer the raw model output is the rejected text.
* **Provenance** stays out of the training lines (tools reject unknown keys) and goes to
  ``provenance.jsonl``: one line per chat or DPO line, naming file and line number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_desktop.engine.prompts import (
    PROMPT_SEPARATOR,
    FewShotExample,
    PromptCatalog,
    build_system,
    build_user,
    format_answer,
    format_situation,
    load_policy,
)
from policy_desktop.export.fewshot_selection import Candidate
from policy_desktop.store.decision import PolicyDecision
from policy_desktop.vocabulary import DECISIONS

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

    def completion_prompt(self, decision: PolicyDecision) -> str:
        """The full prompt, equal to ``build_prompt(version, policy, ...).text``."""
        return self.completion_system + PROMPT_SEPARATOR + build_user(
            decision.situation, decision.team_context)


def json_line(record: Any) -> str:
    """``record`` as one line of JSON (UTF-8 kept, every line break escaped) plus ``\\n``."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAK_ESCAPES) + "\n"


def has_reasoning(decision: PolicyDecision) -> bool:
    """Whether the final (corrected or model) reasoning has any text."""
    return bool((decision.final_reasoning or "").strip())


def corrected_answer(decision: PolicyDecision) -> str:
    """The answer the model should have given (human decision and reasoning)."""
    return format_answer(decision.final_decision, decision.classification,
                         decision.risk_level, decision.final_reasoning)


def original_answer(decision: PolicyDecision) -> str | None:
    """The model's own answer, or its raw output if unparseable (``None`` if empty)."""
    if decision.decision in DECISIONS:
        return format_answer(decision.decision, decision.classification, decision.risk_level,
                             decision.reasoning)
    raw = (decision.full_response or "").strip()
    return raw or None


def situation_text(decision: PolicyDecision) -> str:
    """The situation as the prompt shows it (``key: value`` lines, then the team context)."""
    return format_situation(decision.situation, decision.team_context)


def fewshot_example(decision: PolicyDecision) -> FewShotExample:
    """The corrected decision as a few-shot example."""
    return FewShotExample(
        situation=decision.situation, team_context=decision.team_context,
        decision=decision.final_decision, classification=decision.classification,
        risk_level=decision.risk_level, reasoning=decision.final_reasoning or "")


def fewshot_candidate(decision: PolicyDecision) -> Candidate:
    """What the few-shot selection compares: situation text plus the corrected reasoning."""
    assert decision.decision_id is not None
    return Candidate(key=decision.decision_id, decision=decision.final_decision,
                     text=f"{situation_text(decision)}\n{decision.final_reasoning or ''}")


def seed_record(decision: PolicyDecision, context: PromptContext) -> dict[str, Any]:
    """One entry of ``finetuning_dataset.json`` (the seed's prompt/response format)."""
    return {
        "prompt": context.completion_prompt(decision),
        "response": corrected_answer(decision),
        "metadata": {
            "decision_id": decision.decision_id,
            "model_name": decision.model_name,
            "model_version": decision.model_version,
            "prompt_version": decision.prompt_version,
            "change_type": decision.review_action,
            "reviewer": decision.reviewer,
        },
    }


def _prompt_turns(decision: PolicyDecision, context: PromptContext) -> list[dict[str, str]]:
    return [{"role": "system", "content": context.chat_system},
            {"role": "user", "content": situation_text(decision)}]


def chat_record(decision: PolicyDecision, context: PromptContext) -> dict[str, Any]:
    """One line of ``finetuning_chat.jsonl``: system, user, assistant; nothing else."""
    messages = [*_prompt_turns(decision, context),
                {"role": "assistant", "content": corrected_answer(decision)}]
    return {"messages": messages}


def dpo_answers(decision: PolicyDecision) -> tuple[str, str] | None:
    """``(chosen, rejected)``, or ``None`` when there is no distinct rejected answer."""
    chosen = corrected_answer(decision)
    rejected = original_answer(decision)
    if rejected is None or rejected == chosen:
        return None
    return chosen, rejected


def dpo_record(decision: PolicyDecision, context: PromptContext) -> dict[str, Any] | None:
    """One line of ``dpo_pairs.jsonl``, or ``None`` when there is no distinct rejected answer."""
    answers = dpo_answers(decision)
    if answers is None:
        return None
    chosen, rejected = answers
    return {
        "prompt": _prompt_turns(decision, context),
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
