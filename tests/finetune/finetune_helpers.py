"""Shared builders for the fine-tuning tests: reviewed databases from varied situations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.vocabulary import DECISIONS


def situation(index: int, **overrides: Any) -> dict[str, Any]:
    """A distinct situation (never one of the suite's)."""
    value: dict[str, Any] = {
        "actor": f"user{index:04d}", "role": "member", "action": "read",
        "target": f"docs/page{index}.md", "environment": "development",
        "trust_score": 0.8, "mfa_verified": True, "time": "Tuesday 10:30",
    }
    value.update(overrides)
    return value


def log_model_answer(log: PolicyDecisionLog, index: int, decision: str = "allow",
                     **overrides: Any) -> str:
    """Log one model decision (unreviewed) and return its id."""
    return log.log_decision(PolicyDecision(
        situation=situation(index, **overrides), team_context=f"Team {index}.",
        model_name="gemma-3-270m", model_version="Q4_K_M",
        prompt_version="v2_fewshot_8examples", decision=decision,
        classification="routine_read_access", risk_level="low",
        reasoning=f"Model reasoning {index}."))


def reviewed_log(path: Path, count: int, *, model: str = "allow",
                 reviewer: str = "dana") -> tuple[PolicyDecisionLog, list[str]]:
    """A database with ``count`` corrections cycling through the three other decisions."""
    log = PolicyDecisionLog(path)
    others = [d for d in DECISIONS if d != model]
    ids = []
    for index in range(count):
        decision_id = log_model_answer(log, index, model)
        human = others[index % len(others)]
        log.mark_reviewed(decision_id, review_decision=human,
                          review_reasoning=f"Rule {index % 10 + 1} decides {human}.",
                          reviewer=reviewer)
        ids.append(decision_id)
    return log, ids
