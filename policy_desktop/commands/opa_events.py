"""OPA's own decision-log events, read as logged decisions.

OPA's decision-log plugin sends events shaped like::

    {"decision_id": "4ca6…", "path": "authz/decision", "input": {...},
     "result": {...}, "timestamp": "2026-12-02T06:00:00.123456789Z",
     "labels": {"id": "…", "version": "1.0.0"}, "bundles": {"authz": {"revision": "r7"}}}

An event with ``input`` and ``result`` (and no ``situation``) is translated into the
import line format: ``input`` is the situation, the policy ``path`` is the prompt version
(the rule set that answered), the bundle revision (else the ``labels.version``) is the
model version and ``model_name`` is ``opa``. The answer is taken from ``result``:

- a decision word (``"deny"``), or ``true``/``false`` (an ``allow`` rule: ``allow``/``deny``);
- an object with ``decision`` (and optionally ``classification``, ``risk_level``,
  ``reasoning``), or with ``allow`` as a boolean.

Anything else is a per-event error naming what was expected; the event is not stored.
"""

from __future__ import annotations

import json
from typing import Any

from policy_desktop.vocabulary import DECISIONS, canonical_json

OPA_MODEL_NAME = "opa"
UNKNOWN_VERSION = "unknown"
ANSWER_KEYS = ("classification", "risk_level", "reasoning")


class EventError(ValueError):
    """An OPA event that cannot be read as a decision (the message is the reason)."""


def is_opa_event(record: Any) -> bool:
    """True for an object in OPA's event shape rather than the import line format."""
    return (isinstance(record, dict) and "input" in record and "result" in record
            and "situation" not in record)


def _answer(result: Any) -> dict[str, Any]:
    if isinstance(result, bool):
        return {"decision": "allow" if result else "deny"}
    if isinstance(result, str):
        if result in DECISIONS:
            return {"decision": result}
        raise EventError(f"result {result!r} is not one of {', '.join(DECISIONS)}")
    if isinstance(result, dict):
        if "decision" in result:
            answer = {"decision": result["decision"]}
            answer.update({key: result[key] for key in ANSWER_KEYS if key in result})
            return answer
        if isinstance(result.get("allow"), bool):
            return {"decision": "allow" if result["allow"] else "deny"}
    raise EventError("result must be a decision, true/false, or an object with 'decision' "
                     "or a boolean 'allow'")


def _version(event: dict[str, Any]) -> str:
    bundles = event.get("bundles")
    if isinstance(bundles, dict):
        revisions = sorted(
            f"{name}@{bundle['revision']}" if len(bundles) > 1 else str(bundle["revision"])
            for name, bundle in bundles.items()
            if isinstance(bundle, dict) and bundle.get("revision") not in (None, ""))
        if revisions:
            return ",".join(revisions)
    labels = event.get("labels")
    if isinstance(labels, dict) and labels.get("version") not in (None, ""):
        return str(labels["version"])
    return UNKNOWN_VERSION


def translate(event: dict[str, Any]) -> dict[str, Any]:
    """The import-format record of one OPA event (raises :class:`EventError`)."""
    situation = event["input"]
    if not isinstance(situation, dict):
        raise EventError("input must be a JSON object (the situation)")
    path = event.get("path")
    record: dict[str, Any] = {
        "situation": situation,
        "model_name": OPA_MODEL_NAME,
        "model_version": _version(event),
        "prompt_version": str(path) if path not in (None, "") else "opa",
        "full_response": canonical_json(event["result"]),
        "tags": ["opa"],
        **_answer(event["result"]),
    }
    for key in ("decision_id", "timestamp"):
        if event.get(key) not in (None, ""):
            record[key] = event[key]
    return record


def as_import_line(text: str) -> str:
    """``text`` itself unless it is an OPA event; then the translated line (raises
    :class:`EventError`). Text that is not JSON is returned as it is, so the import
    reports it exactly like a bad line of a file."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        repeated.extend(key for key in set(keys) if keys.count(key) > 1)
        return dict(items)

    try:
        record = json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return text
    if not is_opa_event(record):
        return text
    if repeated:  # json.loads would keep the last silently; an import line refuses them too
        raise EventError(f"key {sorted(repeated)[0]!r} appears twice in the event")
    return json.dumps(translate(record), ensure_ascii=False)
