"""Parsing raw model answers against the answer schema (no model needed)."""

from __future__ import annotations

import json

import pytest

from policy_desktop.engine.answer_parsing import (
    ANSWER_SCHEMA,
    ParsedAnswer,
    answer_schema_json,
    parse_answer,
)
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS, UNPARSEABLE

GOOD = {
    "decision": "require_mfa",
    "classification": "off_hours_write",
    "risk_level": "medium",
    "reasoning": "Rule 8: off-hours write without MFA.",
}


def dumps(value: object) -> str:
    return json.dumps(value)


def test_schema_lists_the_vocabulary_in_order() -> None:
    properties = ANSWER_SCHEMA["properties"]
    fields = ["decision", "classification", "risk_level", "reasoning"]
    assert list(properties) == fields
    assert properties["decision"]["enum"] == list(DECISIONS)
    assert properties["risk_level"]["enum"] == list(RISK_LEVELS)
    assert ANSWER_SCHEMA["required"] == fields
    assert json.loads(answer_schema_json()) == ANSWER_SCHEMA


def test_plain_answer() -> None:
    parsed = parse_answer(dumps(GOOD))
    assert parsed == ParsedAnswer("require_mfa", "off_hours_write", "medium", GOOD["reasoning"])
    assert parsed.parseable


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("risk", RISK_LEVELS)
def test_every_label_combination(decision: str, risk: str) -> None:
    parsed = parse_answer(dumps({**GOOD, "decision": decision, "risk_level": risk}))
    assert (parsed.decision, parsed.risk_level) == (decision, risk)


@pytest.mark.parametrize(
    "text",
    [
        "  \n" + dumps(GOOD) + "\n\n",
        "Here is my answer: " + dumps(GOOD) + " Hope this helps.",
        "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
        dumps(GOOD) + "\n\n### Situation\nactor: bob\n### Answer\n{",
        dumps(GOOD) + dumps({**GOOD, "decision": "deny"}),
    ],
    ids=["whitespace", "prose", "code-fence", "rambling-after", "two-objects-first-wins"],
)
def test_tolerates_surrounding_text(text: str) -> None:
    assert parse_answer(text).decision == "require_mfa"


def test_unknown_extra_keys_are_ignored() -> None:
    parsed = parse_answer(dumps({**GOOD, "confidence": 0.9, "notes": ["x"]}))
    assert parsed.decision == "require_mfa"
    assert parsed.reasoning == GOOD["reasoning"]


def test_enum_values_ignore_case_and_blanks() -> None:
    parsed = parse_answer(dumps({**GOOD, "decision": " Allow ", "risk_level": "HIGH"}))
    assert (parsed.decision, parsed.risk_level) == ("allow", "high")


def test_free_strings_are_stripped_and_unescaped() -> None:
    parsed = parse_answer(dumps({**GOOD, "reasoning": '  say "hi"\nthen \\ go  '}))
    assert parsed.reasoning == 'say "hi"\nthen \\ go'


def test_empty_free_strings_are_valid() -> None:
    parsed = parse_answer(dumps({**GOOD, "classification": "", "reasoning": ""}))
    assert parsed.decision == "require_mfa"
    assert parsed.classification == ""


def test_nested_answer_is_found() -> None:
    assert parse_answer(dumps({"answer": GOOD})).decision == "require_mfa"


def test_first_valid_object_wins_over_invalid_ones() -> None:
    text = dumps({"decision": "maybe"}) + " " + dumps(GOOD)
    assert parse_answer(text).decision == "require_mfa"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "allow",
        "decision: allow",
        "[" + dumps(GOOD)[:-1],
        dumps(GOOD)[:-1],
        dumps(GOOD)[:40],
        '{"decision": "allow", "classification": "x", "risk_level": "low", "reasoning": "cut',
        dumps({**GOOD, "decision": "approve"}),
        dumps({**GOOD, "decision": "unparseable"}),
        dumps({**GOOD, "decision": None}),
        dumps({**GOOD, "decision": ["allow"]}),
        dumps({**GOOD, "risk_level": "extreme"}),
        dumps({**GOOD, "risk_level": 3}),
        dumps({**GOOD, "classification": 7}),
        dumps({**GOOD, "reasoning": None}),
        dumps({k: v for k, v in GOOD.items() if k != "risk_level"}),
        dumps({k: v for k, v in GOOD.items() if k != "reasoning"}),
        dumps({k: v for k, v in GOOD.items() if k != "classification"}),
        dumps([GOOD["decision"]]),
        "{'decision': 'allow'}",
        "{{{{",
        "}" * 5 + "{" * 5,
    ],
)
def test_invalid_answers_are_unparseable(text: str | None) -> None:
    parsed = parse_answer(text)
    assert parsed.decision == UNPARSEABLE
    assert (parsed.classification, parsed.risk_level, parsed.reasoning) == (None, None, None)
    assert not parsed.parseable


def test_never_raises_on_garbage() -> None:
    garbage = "".join(chr(c) for c in range(0, 0x250)) * 3 + '{"a": [1, {"b": }'
    assert parse_answer(garbage).decision == UNPARSEABLE
