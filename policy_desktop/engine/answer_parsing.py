"""The answer's JSON schema (single source of truth) and parsing of raw model answers.

:data:`ANSWER_SCHEMA` is the project's JSON-schema constraint on what the model answers: an
object with the keys, in this order, ``decision`` (one of
:data:`~policy_desktop.vocabulary.DECISIONS`), ``classification`` (free string),
``risk_level`` (one of :data:`~policy_desktop.vocabulary.RISK_LEVELS`) and ``reasoning``
(free string). The engine (:mod:`policy_desktop.engine.llm`) builds its constrained decoding
from it; :func:`parse_answer` checks any raw text against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS, UNPARSEABLE

__all__ = [
    "ANSWER_SCHEMA",
    "ParsedAnswer",
    "answer_schema_json",
    "parse_answer",
]

ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": list(DECISIONS)},
        "classification": {"type": "string"},
        "risk_level": {"type": "string", "enum": list(RISK_LEVELS)},
        "reasoning": {"type": "string"},
    },
    "required": ["decision", "classification", "risk_level", "reasoning"],
    "additionalProperties": False,
}
"""JSON schema of an answer; property order is the order the model writes the keys in."""


def answer_schema_json() -> str:
    """:data:`ANSWER_SCHEMA` as JSON text (e.g. for ``LlamaGrammar.from_json_schema``)."""
    return json.dumps(ANSWER_SCHEMA)


@dataclass(frozen=True)
class ParsedAnswer:
    """The four fields of an answer; all but ``decision`` are ``None`` when unparseable."""

    decision: str
    classification: str | None = None
    risk_level: str | None = None
    reasoning: str | None = None

    @property
    def parseable(self) -> bool:
        """True when the answer satisfied the schema."""
        return self.decision != UNPARSEABLE


UNPARSEABLE_ANSWER: Final = ParsedAnswer(UNPARSEABLE)


def _normalise_enum(value: Any, allowed: tuple[str, ...]) -> str | None:
    """``value`` as one of ``allowed`` (ignoring case and surrounding blanks), else None."""
    if not isinstance(value, str):
        return None
    candidate = value.strip().lower()
    return candidate if candidate in allowed else None


def _candidate_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object starting at some ``{`` of ``text`` (outer before nested)."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            yield value
        position = text.find("{", position + 1)


def _from_object(value: dict[str, Any]) -> ParsedAnswer | None:
    decision = _normalise_enum(value.get("decision"), DECISIONS)
    risk = _normalise_enum(value.get("risk_level"), RISK_LEVELS)
    classification = value.get("classification")
    reasoning = value.get("reasoning")
    if decision is None or risk is None:
        return None
    if not isinstance(classification, str) or not isinstance(reasoning, str):
        return None
    return ParsedAnswer(decision, classification.strip(), risk, reasoning.strip())


def parse_answer(text: str | None) -> ParsedAnswer:
    """Parse a raw model answer into its four fields.

    Tolerates text around the JSON object (a code fence, a preamble, trailing tokens) and
    unknown extra keys; enum values are matched ignoring case and surrounding blanks. The
    first object that has all four fields valid wins. Anything else (no object, truncated
    JSON, a decision or risk level outside the vocabulary, a missing or non-string field)
    gives ``decision=UNPARSEABLE`` and no other field; never raises.
    """
    if not text:
        return UNPARSEABLE_ANSWER
    for value in _candidate_objects(text):
        parsed = _from_object(value)
        if parsed is not None:
            return parsed
    return UNPARSEABLE_ANSWER
