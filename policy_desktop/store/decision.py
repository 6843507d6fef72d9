"""The :class:`PolicyDecision` record and its conversions (Python <-> row <-> JSON)."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import operator
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from policy_desktop.store.errors import InvalidRecordError
from policy_desktop.store.schema import ALL_COLUMNS, STORED_COLUMNS, TEXT_TIMESTAMP_COLUMN
from policy_desktop.vocabulary import DECISIONS, LOGGED_DECISIONS, RISK_LEVELS, canonical_json

REQUIRED_FIELDS: tuple[str, ...] = (
    "timestamp", "situation", "model_name", "model_version", "prompt_version", "decision",
)  # fmt: skip

REVIEW_ACTIONS: tuple[str, ...] = (
    "accept", "correct_decision", "correct_reasoning", "correct_both",
)  # fmt: skip
CORRECTION_ACTIONS: tuple[str, ...] = REVIEW_ACTIONS[1:]
DECISION_CORRECTIONS: tuple[str, ...] = ("correct_decision", "correct_both")
"""Review actions that changed the decision (the model's labels then no longer stand)."""
UNDO_ACTION = "undo"

# The model's output and the logging context: fixed once a decision is logged.
IMMUTABLE_FIELDS: tuple[str, ...] = (
    "decision_id", "timestamp", "situation", "team_context", "model_name", "model_version",
    "prompt_version", "decision", "classification", "risk_level", "reasoning", "full_response",
    "expected_decision", "decision_correct", "reasoning_coverage", "scenario_id", "tags",
    "confidence", "run_id", "prompt_tokens", "generated_tokens", "seconds",
)  # fmt: skip


def action_for_changes(decision_changed: bool, reasoning_changed: bool) -> str:
    """The review action named by what the reviewer changed."""
    if decision_changed and reasoning_changed:
        return "correct_both"
    if decision_changed:
        return "correct_decision"
    if reasoning_changed:
        return "correct_reasoning"
    return "accept"


def derive_review_action(
    decision: str, reasoning: str | None, review_decision: str | None, review_reasoning: str | None
) -> str:
    """The action of a review known only by its result (seed databases, imports)."""
    return action_for_changes(
        review_decision not in (None, decision),
        review_reasoning is not None and review_reasoning.strip() != (reasoning or "").strip(),
    )


def now_iso() -> str:
    """The current time as ISO-8601 UTC with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` allowed); raise ValueError otherwise."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) < 10:
        raise ValueError(value)
    return datetime.fromisoformat(text)


def is_canonical_timestamp(text: str) -> bool:
    """True for :func:`now_iso`'s form, e.g. ``2026-02-02T08:05:12.000000+00:00``."""
    return len(text) == 32 and text[10] == "T" and text[19] == "." and text.endswith("+00:00")


def normalized_timestamp(text: str) -> str:
    """The UTC instant of an ISO-8601 timestamp in :func:`now_iso`'s form (sorts by time).

    A time without an offset is taken as UTC. Raises ValueError when unreadable or
    out of range.
    """
    if is_canonical_timestamp(text):
        return text
    moment = parse_timestamp(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise ValueError(f"{text} is out of range in UTC") from None


def make_decision_id(timestamp: str, suffix: str | None = None) -> str:
    """``dec_<timestamp to the minute>_<8 hex>``, e.g. ``dec_2026-02-02T0805_7941fb52``."""
    moment = parse_timestamp(timestamp)
    hex8 = suffix if suffix is not None else secrets.token_hex(4)
    return f"dec_{moment.strftime('%Y-%m-%dT%H%M')}_{hex8}"


@dataclass
class PolicyDecision:
    """One decision of the policy model with its full context and review state.

    ``situation`` is a dict and ``tags`` a list; everything but the six required
    fields is optional. ``decision_id`` and ``timestamp`` are generated on logging
    when absent.
    """

    situation: dict[str, Any]
    model_name: str
    model_version: str
    prompt_version: str
    decision: str
    classification: str | None = None
    risk_level: str | None = None
    reasoning: str | None = None
    full_response: str | None = None
    team_context: str | None = None
    expected_decision: str | None = None
    decision_correct: bool | None = None
    reasoning_coverage: float | None = None
    scenario_id: str | None = None
    tags: list[str] = field(default_factory=list)
    decision_id: str | None = None
    timestamp: str | None = None
    reviewed: bool = False
    review_decision: str | None = None
    review_reasoning: str | None = None
    review_timestamp: str | None = None
    reviewer: str | None = None
    review_action: str | None = None
    confidence: float | None = None
    run_id: str | None = None
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    seconds: float | None = None
    review_classification: str | None = None
    review_risk_level: str | None = None

    @property
    def is_correction(self) -> bool:
        """True when a reviewer changed the decision, the reasoning or both."""
        return self.review_action in CORRECTION_ACTIONS

    @property
    def final_decision(self) -> str:
        """The human's decision when reviewed with a new one, else the model's."""
        return self.review_decision or self.decision

    @property
    def final_reasoning(self) -> str | None:
        """The human's reasoning when corrected, else the model's."""
        return self.review_reasoning if self.review_reasoning is not None else self.reasoning

    @property
    def decision_corrected(self) -> bool:
        """True when the review in effect changed the model's decision."""
        return self.review_action in DECISION_CORRECTIONS

    @property
    def final_classification(self) -> str | None:
        """The reviewer's classification if given; else the model's while its decision
        stands (not reviewed, accepted, reasoning-only correction); else None: a corrected
        decision does not keep labels the model chose for its own decision."""
        if self.review_classification is not None:
            return self.review_classification
        return None if self.decision_corrected else self.classification

    @property
    def final_risk_level(self) -> str | None:
        """The reviewer's risk level if given; else as :attr:`final_classification`."""
        if self.review_risk_level is not None:
            return self.review_risk_level
        return None if self.decision_corrected else self.risk_level

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with the column names (the JSONL line format).

        ``situation`` is copied one level deep and ``tags`` copied; nested values
        are shared with this record (no deep copy: it dominated logging and dumping).
        """
        record = {name: getattr(self, name) for name in DECISION_FIELDS}
        record["situation"] = dict(self.situation)
        record["tags"] = list(self.tags)
        return record


DECISION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PolicyDecision))
assert set(DECISION_FIELDS) == set(ALL_COLUMNS), "dataclass and table must agree"


def to_row(decision: PolicyDecision) -> dict[str, Any]:
    """Column values for storing ``decision`` (JSON text, 0/1 integers)."""
    return dict(zip(STORED_COLUMNS, to_values(decision), strict=True))


_ENCODE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
"""``json.dumps(value, ensure_ascii=False, allow_nan=False)`` without a new encoder per call."""


def to_values(decision: PolicyDecision) -> list[Any]:
    """Column values in :data:`STORED_COLUMNS` order (the fast path of logging).

    ``situation``/``tags`` become JSON text, booleans 0/1, and numbers plain
    ``float``/``int`` (so numpy scalars can be stored). ``timestamp`` becomes the
    UTC instant in one form, so that text order is time order; the text as given
    goes into ``timestamp_text`` when it differs.
    """
    values = [decision.__dict__[name] for name in ALL_COLUMNS]
    given = values[_TIMESTAMP]
    if given is not None and not is_canonical_timestamp(given):
        try:
            values[_TIMESTAMP] = normalized_timestamp(given)
        except ValueError as error:
            raise InvalidRecordError(f"timestamp {given!r} cannot be stored ({error})") from None
        values.append(given)
    else:
        values.append(None)
    try:
        values[_SITUATION] = _ENCODE_JSON(values[_SITUATION])
    except (TypeError, ValueError) as error:  # e.g. a datetime, NaN, a cycle
        raise InvalidRecordError(f"situation cannot be stored as JSON ({error})") from None
    tags = values[_TAGS]
    values[_TAGS] = _ENCODE_JSON(tags if tags.__class__ is list else list(tags))
    correct = values[_CORRECT]
    if correct is not None:
        values[_CORRECT] = 1 if correct else 0
    values[_REVIEWED] = 1 if values[_REVIEWED] else 0
    for position in _FLOAT_POSITIONS:
        value = values[position]
        if value is not None and value.__class__ is not float:
            values[position] = float(value)
    for position in _INT_POSITIONS:
        value = values[position]
        if value is not None and value.__class__ is not int:
            values[position] = int(value)
    return values


def from_row(row: dict[str, Any]) -> PolicyDecision:
    """Rebuild a :class:`PolicyDecision` from stored column values."""
    values: dict[str, Any] = {name: row.get(name) for name in DECISION_FIELDS}
    if row.get(TEXT_TIMESTAMP_COLUMN):
        values["timestamp"] = row[TEXT_TIMESTAMP_COLUMN]
    values["situation"] = json.loads(values["situation"]) if values["situation"] else {}
    values["tags"] = json.loads(values["tags"]) if values["tags"] else []
    if values["decision_correct"] is not None:
        values["decision_correct"] = bool(values["decision_correct"])
    values["reviewed"] = bool(values["reviewed"])
    return PolicyDecision(**values)


def content_key(decision: PolicyDecision) -> str:
    """Canonical text of the immutable fields, for duplicate and conflict checks."""
    record = decision.to_dict()
    return canonical_json({name: record[name] for name in IMMUTABLE_FIELDS})


def derived_decision_id(decision: PolicyDecision) -> str:
    """A stable id from a decision's content (for imported lines that carry none)."""
    return derived_id_candidates(decision)[0]


DERIVED_ID_LENGTHS: tuple[int, ...] = (8, 16, 32, 64)
"""Hex digits of the content digest tried in turn for a line without an id."""


def derived_id_candidates(decision: PolicyDecision) -> list[str]:
    """Stable ids from a decision's content, shortest first.

    The first (``dec_<minute>_<8 hex>``) is the usual one; a longer digest is used
    only when a decision with other content already has the shorter id, so two
    distinct decisions never merge and a re-import finds its own id again.
    """
    record = decision.to_dict()
    content = {name: record[name] for name in IMMUTABLE_FIELDS if name != "decision_id"}
    digest = hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
    prefix = make_decision_id(decision.timestamp or now_iso(), "")
    return [prefix + digest[:length] for length in DERIVED_ID_LENGTHS]


# --- validation -------------------------------------------------------------------------

_TEXT_FIELDS = (
    "decision_id", "timestamp", "team_context", "model_name", "model_version", "prompt_version",
    "decision", "classification", "risk_level", "reasoning", "full_response", "expected_decision",
    "review_decision", "review_reasoning", "review_timestamp", "scenario_id", "reviewer",
    "review_action", "run_id", "review_classification", "review_risk_level",
)  # fmt: skip
_FLOAT_FIELDS = ("reasoning_coverage", "confidence", "seconds")
_INT_FIELDS = ("prompt_tokens", "generated_tokens")
_BOOL_FIELDS = ("decision_correct", "reviewed")
_UNIT_INTERVAL = ("reasoning_coverage", "confidence")
_TIMESTAMP_FIELDS = ("timestamp", "review_timestamp")

_TIMESTAMP = ALL_COLUMNS.index("timestamp")
_SITUATION = ALL_COLUMNS.index("situation")
_TAGS = ALL_COLUMNS.index("tags")
_CORRECT = ALL_COLUMNS.index("decision_correct")
_REVIEWED = ALL_COLUMNS.index("reviewed")
_FLOAT_POSITIONS = tuple(ALL_COLUMNS.index(name) for name in _FLOAT_FIELDS)
_INT_POSITIONS = tuple(ALL_COLUMNS.index(name) for name in _INT_FIELDS)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number" if isinstance(value, int | float) else (
        type(value).__name__)


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def validate_decision_value(name: str, value: str | None) -> None:
    """Reject decisions outside the vocabulary."""
    if value is not None and value not in LOGGED_DECISIONS:
        raise InvalidRecordError(
            f"{name} {value!r} is not one of {', '.join(LOGGED_DECISIONS)}")


def validate_review_risk_level(value: str | None) -> None:
    """Reject a reviewer's risk level outside the vocabulary."""
    if value is not None and value not in RISK_LEVELS:
        raise InvalidRecordError(
            f"review_risk_level {value!r} is not one of {', '.join(RISK_LEVELS)}")


def review_label(value: str | None) -> str | None:
    """A reviewer's classification as stored: stripped, empty = not given."""
    if value is None:
        return None
    text = value.strip()
    return text or None


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
"""The range of a 64-bit integer column (SQLite INTEGER, PostgreSQL BIGINT)."""
_NONE = type(None)
_TEXT_TYPES = frozenset((str, _NONE))
_INT_TYPES = frozenset((int, _NONE))
_BOOL_TYPES = frozenset((bool, _NONE))
_STR_TYPE = frozenset((str,))
_LOGGED_SET = frozenset(LOGGED_DECISIONS)
_DECISION_OR_NONE = frozenset((*DECISIONS, None))
_ACTION_SET = frozenset(REVIEW_ACTIONS)
_RISK_OR_NONE = frozenset((*RISK_LEVELS, None))
_TEXTS_OF = operator.itemgetter(*_TEXT_FIELDS)
_UNITS_OF = operator.itemgetter(*_UNIT_INTERVAL)
_INTS_OF = operator.itemgetter(*_INT_FIELDS)
_BOOLS_OF = operator.itemgetter(*_BOOL_FIELDS)


def _obviously_valid(record: dict[str, Any]) -> bool:
    """A quick test passed only by valid decisions of exactly the plain types.

    False means "check thoroughly", not "invalid": numpy numbers, tuples of tags
    and the like take the slow path of :func:`check_decision`.
    """
    seconds = record["seconds"]
    coverage, confidence = _UNITS_OF(record)
    tags = record["tags"]
    decision_id = record["decision_id"]
    if not (
        _TEXT_TYPES.issuperset(map(type, _TEXTS_OF(record)))
        and record["model_name"] and record["model_version"] and record["prompt_version"]
        and record["decision"] in _LOGGED_SET
        and record["expected_decision"] in _DECISION_OR_NONE
        and record["review_decision"] in _DECISION_OR_NONE
        and record["review_risk_level"] in _RISK_OR_NONE
        and (record["review_action"] is None
             or (record["review_action"] in _ACTION_SET and record["reviewed"] is True))
        and (record["reviewed"] is True or (record["review_classification"] is None
                                            and record["review_risk_level"] is None))
        and (decision_id is None or decision_id.strip())
        and type(record["situation"]) is dict
        and type(tags) is list and _STR_TYPE.issuperset(map(type, tags))
        and (coverage is None or (type(coverage) is float and 0.0 <= coverage <= 1.0))
        and (confidence is None or (type(confidence) is float and 0.0 <= confidence <= 1.0))
        and (seconds is None or (type(seconds) is float and math.isfinite(seconds)))
        and _INT_TYPES.issuperset(map(type, _INTS_OF(record)))
        and all(value is None or _INT_MIN <= value <= _INT_MAX for value in _INTS_OF(record))
        and _BOOL_TYPES.issuperset(map(type, _BOOLS_OF(record)))
    ):
        return False
    try:
        for name in _TIMESTAMP_FIELDS:
            if record[name] is not None:
                parse_timestamp(record[name])
    except ValueError:
        return False
    return True


def check_decision(decision: PolicyDecision) -> None:
    """Raise :class:`InvalidRecordError` unless ``decision`` may be stored as it is.

    The rules of the schema, shared by the API and the JSONL import: required
    texts present, decisions from the vocabulary, ``situation`` a dict, ``tags``
    a list of strings, ISO-8601 timestamps, finite numbers (coverage and
    confidence within 0..1), and a review action only on a reviewed decision.
    Runs for every logged decision: a decision of plain types that is obviously
    valid passes a quick test; anything else gets the full checks, which name the
    first problem.
    """
    record = decision.__dict__
    if _obviously_valid(record):
        return
    wrong_text = [name for name in _TEXT_FIELDS
                  if record[name] is not None and not isinstance(record[name], str)]
    if wrong_text:
        value = record[wrong_text[0]]
        raise InvalidRecordError(f"{wrong_text[0]} must be a string, not {_json_type(value)}")
    for name in ("model_name", "model_version", "prompt_version", "decision"):
        if not record[name]:
            raise InvalidRecordError(f"{name} is required")
    if record["decision_id"] is not None and not record["decision_id"].strip():
        raise InvalidRecordError("decision_id cannot be empty")
    validate_decision_value("decision", record["decision"])
    for name in ("expected_decision", "review_decision"):
        value = record[name]
        if value is not None and value not in DECISIONS:
            raise InvalidRecordError(f"{name} {value!r} is not one of {', '.join(DECISIONS)}")
    validate_review_risk_level(record["review_risk_level"])
    if not isinstance(record["situation"], dict):
        raise InvalidRecordError(
            f"situation must be an object, not {_json_type(record['situation'])}")
    tags = record["tags"]
    if not isinstance(tags, list | tuple) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidRecordError("tags must be a list of strings")
    for name in _TIMESTAMP_FIELDS:
        value = record[name]
        if value is not None:
            try:
                parse_timestamp(value)
            except ValueError:
                raise InvalidRecordError(
                    f"{name} {value!r} is not an ISO-8601 timestamp") from None
    for name in _FLOAT_FIELDS:
        value = record[name]
        if value is None or (value.__class__ is float and 0.0 <= value <= 1.0):
            continue  # the common case, checked cheaply
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
                value):
            raise InvalidRecordError(f"{name} must be a number, not {_shown(value)}")
        if name in _UNIT_INTERVAL and not 0.0 <= float(value) <= 1.0:
            raise InvalidRecordError(f"{name} must be between 0 and 1, not {value}")
    for name in _INT_FIELDS:
        value = record[name]
        if value is not None and value.__class__ is not int and (
                isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise InvalidRecordError(f"{name} must be an integer, not {_shown(value)}")
        if value is not None and not _INT_MIN <= int(value) <= _INT_MAX:
            raise InvalidRecordError(f"{name} {value} is too large to store (64-bit integers)")
    for name in _BOOL_FIELDS:
        value = record[name]
        if value is not None and value is not True and value is not False and value not in (
                0, 1):
            raise InvalidRecordError(f"{name} must be true or false, not {_shown(value)}")
    action = record["review_action"]
    if action is not None:
        if action not in REVIEW_ACTIONS:
            raise InvalidRecordError(
                f"review_action {action!r} is not one of {', '.join(REVIEW_ACTIONS)}")
        if not record["reviewed"]:
            raise InvalidRecordError("review_action is set but reviewed is false")
    for name in ("review_classification", "review_risk_level"):
        if record[name] is not None and not record["reviewed"]:
            raise InvalidRecordError(f"{name} is set but reviewed is false")


def _reject_lone_surrogates(value: Any) -> None:
    """Text SQLite cannot store (``"\\ud800"`` in JSON decodes to an unpaired surrogate)."""
    try:
        canonical_json(value).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecordError(
            "text contains an unpaired surrogate (not valid Unicode)") from None


def decision_from_record(record: Any, *, check_unicode: bool = True) -> PolicyDecision:
    """Validate a JSON object (one JSONL line) and build a :class:`PolicyDecision`.

    Raises :class:`InvalidRecordError` with a one-line reason. Unknown keys are
    ignored; ``check_unicode=False`` skips the unpaired-surrogate check (for
    callers that know the text has no ``\\u`` escapes).
    """
    if not isinstance(record, dict):
        raise InvalidRecordError(f"expected a JSON object, got {_json_type(record)}")
    for name in REQUIRED_FIELDS:
        if name not in record:
            raise InvalidRecordError(f"missing required field {name!r}")
        if record[name] is None:
            raise InvalidRecordError(f"required field {name!r} is null")
    for name in _FLOAT_FIELDS + _INT_FIELDS:  # JSON numbers only: no "0.5", no true
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            kind = "an integer" if name in _INT_FIELDS else "a number"
            raise InvalidRecordError(f"{name} must be {kind}, not {_shown(value)}")
    if record.get("tags") is None:
        record = {**record, "tags": []}
    values = {name: record[name] for name in DECISION_FIELDS if name in record}
    if isinstance(values.get("review_classification"), str):
        values["review_classification"] = review_label(values["review_classification"])
    if values.get("reviewed") is None:
        values["reviewed"] = False
    decision = PolicyDecision(**values)
    check_decision(decision)
    if check_unicode:
        _reject_lone_surrogates(record)
    for name in _BOOL_FIELDS:
        value = getattr(decision, name)
        if value is not None:
            setattr(decision, name, bool(value))
    for name in _FLOAT_FIELDS:
        value = getattr(decision, name)
        if value is not None:
            setattr(decision, name, float(value))
    decision.tags = list(decision.tags)
    return decision
