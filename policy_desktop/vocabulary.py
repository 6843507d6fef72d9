"""The fixed words of policy decisions, shared by every layer (no dependencies)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

DECISIONS: tuple[str, ...] = ("allow", "deny", "require_attestation", "require_mfa")
"""What the model may answer, in the order of the ``1``-``4`` review keys."""

UNPARSEABLE = "unparseable"
"""Logged when the model's answer could not be parsed; always counted incorrect."""

LOGGED_DECISIONS: tuple[str, ...] = (*DECISIONS, UNPARSEABLE)
"""Every value the ``decision`` column may hold."""

RISK_LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")

TRAINING_GATE = 50
"""Corrections needed before training data may be exported (may be raised, never lowered)."""


def canonical_json(value: Any) -> str:
    """A stable JSON text of ``value`` (sorted keys, no spaces) for hashing and comparison."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def situation_fingerprint(situation: dict[str, Any]) -> str:
    """sha256 of a situation's canonical JSON: equal for identical situations."""
    return hashlib.sha256(canonical_json(situation).encode("utf-8")).hexdigest()
