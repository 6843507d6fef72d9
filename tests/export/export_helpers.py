"""Shared builders for the training-export tests: decisions, databases, a fake embedder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policy_desktop.store import PolicyDecision, PolicyDecisionLog

DIM = 32
AUTO = "<auto>"
"""Spec value meaning: derive it from the decision's index."""
NEAR_MARK = "~"
"""Texts equal up to this mark embed as near-duplicates (cosine ~0.99) in :func:`fake_embed`."""


def _unit(seed_text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIM)
    return vector / np.linalg.norm(vector)


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic stand-in for MiniLM: unrelated texts are nearly orthogonal."""
    rows = []
    for text in texts:
        base, mark, _ = text.partition(NEAR_MARK)
        vector = _unit(base) + (0.05 * _unit(text) if mark else 0.0)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows, dtype=np.float32).reshape(len(texts), DIM)


def situation(index: int, **overrides: Any) -> dict[str, Any]:
    """A distinct, realistic situation."""
    value: dict[str, Any] = {
        "actor": f"user{index:04d}", "role": "member", "action": "read",
        "target": f"docs/page{index}.md", "environment": "development",
        "trust_score": 0.8, "mfa_verified": True, "time": "Tuesday 10:30",
    }
    value.update(overrides)
    return value


@dataclass
class Spec:
    """One reviewed decision to put into a test database."""

    model: str = "allow"
    human: str | None = "deny"
    reasoning: str | None = None
    review_reasoning: str | None = AUTO
    situation: dict[str, Any] | None = None
    team_context: str | None = AUTO
    model_name: str = "gemma-3-270m"
    model_version: str = "Q4_K_M"
    prompt_version: str = "v2_fewshot_8examples"
    reviewer: str = "dana"
    full_response: str | None = None
    classification: str | None = "routine_read_access"
    risk_level: str | None = "low"
    reviewed: bool = True


def decision(index: int, spec: Spec) -> PolicyDecision:
    """A logged-and-reviewed decision built from ``spec`` (review action derived on import)."""
    model_reasoning = spec.reasoning if spec.reasoning is not None else (
        f"Model reasoning {index}: the rule for members applies.")
    review_reasoning = spec.review_reasoning
    if review_reasoning == AUTO:
        changed = spec.human is not None and spec.human != spec.model
        review_reasoning = (f"Human reasoning {index}: rule {index % 12 + 1} decides "
                            f"{spec.human}.") if changed else None
    return PolicyDecision(
        situation=situation(index) if spec.situation is None else spec.situation,
        team_context=f"Team context {index}." if spec.team_context == AUTO else spec.team_context,
        model_name=spec.model_name, model_version=spec.model_version,
        prompt_version=spec.prompt_version, decision=spec.model,
        classification=spec.classification, risk_level=spec.risk_level,
        reasoning=model_reasoning, full_response=spec.full_response,
        decision_id=f"dec_2026-02-02T0805_{index:08x}",
        timestamp=f"2026-02-02T08:{index // 60 % 60:02d}:{index % 60:02d}.{index:06d}+00:00",
        reviewed=spec.reviewed,
        review_decision=spec.human if spec.reviewed else None,
        review_reasoning=review_reasoning if spec.reviewed else None,
        reviewer=spec.reviewer if spec.reviewed else None,
        review_timestamp="2026-02-03T09:00:00+00:00" if spec.reviewed else None,
    )


def build_log(path: Path, specs: Sequence[Spec], start: int = 0) -> PolicyDecisionLog:
    """A database at ``path`` holding one reviewed decision per spec."""
    log = PolicyDecisionLog(path)
    log.import_decisions([decision(start + i, spec) for i, spec in enumerate(specs)])
    return log


def corrections(count: int, human: str = "deny", model: str = "allow") -> list[Spec]:
    """``count`` decision corrections ``model -> human``."""
    return [Spec(model=model, human=human) for _ in range(count)]


def accepted(count: int, model: str = "allow") -> list[Spec]:
    """``count`` decisions the reviewer accepted as correct."""
    return [Spec(model=model, human=None) for _ in range(count)]


def listing(folder: Path) -> list[str]:
    """Every entry name in ``folder`` (hidden ones too), sorted; SQLite files left out."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("decisions.db"))
