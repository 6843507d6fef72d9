"""A realistic demo decision log for screenshots, benchmarks and manual testing (no Qt).

A developer tool beside ``tools/screenshots.py``, not part of the shipped package.

Decisions vary in actor, role, action, target, trust, MFA, time, model, prompt
version, correctness, coverage, confidence and review state; they are made up
by a seeded generator, so the same seed gives the same log.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from policy_desktop.store import PolicyDecision, PolicyDecisionLog

ACTORS: dict[str, str] = {
    "alice": "member", "bob": "maintainer", "carol": "admin", "dave": "member",
    "erin": "contractor", "frank": "auditor", "mallory": "guest", "ci-bot": "service",
    "deploy-bot": "service", "grace": "maintainer", "heidi": "member", "ivan": "contractor",
}  # fmt: skip
ACTIONS: dict[str, list[str]] = {
    "read": ["docs/readme.md", "docs/architecture.md", "src/auth/session.py",
             "billing/invoices/2026-01.csv", "logs/audit/2026-02.log"],
    "write": ["src/auth/login.py", "src/api/handlers.py", "docs/onboarding.md",
              "infra/terraform/main.tf"],
    "deploy": ["prod/api-gateway", "staging/web", "prod/payments"],
    "delete": ["prod/db/customers", "branches/feature-x", "backups/2025-12"],
    "merge": ["main <- feature/rate-limits", "release/2.4 <- hotfix/login"],
    "rotate_key": ["secrets/deploy_token", "secrets/api_keys.env"],
    "export": ["prod/db/customers", "analytics/events/2026-01"],
    "approve": ["change-request/1182", "access-request/alice-prod"],
}
TIMES = ["Monday 09:15", "Tuesday 10:30", "Wednesday 14:20", "Thursday 16:45",
         "Friday 18:05", "Saturday 02:40", "Sunday 23:10"]
REASONS: dict[str, list[str]] = {
    "allow": ["{role}s may {action} {kind} during working hours; trust is {trust:.2f} and the "
              "request touches no secrets.",
              "Routine {action} by a {role} with verified MFA; low risk."],
    "deny": ["A {role} may not {action} {target}; the request is outside the role.",
             "Deleting production data needs an admin and a change request; none was given.",
             "Trust {trust:.2f} is below what {action} on {target} requires."],
    "require_attestation": ["{action} on {target} changes production: a second maintainer must "
                            "attest before it proceeds.",
                            "Contractors need a sponsor's attestation to {action} {kind}."],
    "require_mfa": ["The actor is not MFA-verified and {target} holds secrets; ask for MFA first.",
                    "Off-hours {action} of sensitive material needs a fresh MFA check."],
}
MODELS = [("gemma-3-270m", "Q4_K_M"), ("phi-4-mini", "Q4_K_M")]
PROMPTS = ["v1_baseline", "v2_fewshot_8examples"]
DECISION_WEIGHTS = {"allow": 5, "deny": 3, "require_attestation": 2, "require_mfa": 2}


def _expected(role: str, action: str, target: str, mfa: bool, trust: float) -> str:
    sensitive = target.startswith(("prod/", "secrets/")) or "customers" in target
    if role == "guest" and action != "read":
        return "deny"
    if action == "delete" and target.startswith("prod/") and role != "admin":
        return "deny"
    if sensitive and not mfa:
        return "require_mfa"
    if action in ("deploy", "export", "rotate_key") and role in ("contractor", "member"):
        return "require_attestation"
    if trust < 0.35:
        return "deny"
    return "allow"


def demo_decisions(count: int, *, seed: int = 7, end: datetime | None = None,
                   run_ids: list[str] | None = None) -> Iterator[PolicyDecision]:
    """``count`` made-up decisions, oldest first, ending at ``end`` (default: now)."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    step = timedelta(days=21) / max(count, 1)
    start = end - step * count
    actors = list(ACTORS)
    decisions = list(DECISION_WEIGHTS)
    weights = list(DECISION_WEIGHTS.values())
    for number in range(count):
        actor = rng.choice(actors)
        role = ACTORS[actor]
        action = rng.choice(list(ACTIONS))
        target = rng.choice(ACTIONS[action])
        trust = round(rng.uniform(0.2, 0.97), 2)
        mfa = rng.random() > 0.25
        in_suite = rng.random() < 0.7
        expected = _expected(role, action, target, mfa, trust) if in_suite else None
        if expected is not None and rng.random() < 0.82:
            decision = expected
        else:
            decision = rng.choices(decisions, weights)[0]
        if rng.random() < 0.015:
            decision = "unparseable"
        model_name, model_version = MODELS[0] if rng.random() < 0.7 else MODELS[1]
        kind = "code" if target.startswith("src/") else "documentation" if target.startswith(
            "docs/") else "production resources"
        reasoning = None if decision == "unparseable" else rng.choice(REASONS[decision]).format(
            role=role, action=action.replace("_", " "), target=target, trust=trust, kind=kind)
        moment = start + step * number + timedelta(seconds=rng.uniform(0, 30))
        correct = None if expected is None else decision == expected
        yield PolicyDecision(
            situation={"actor": actor, "role": role, "action": action, "target": target,
                       "trust_score": trust, "mfa_verified": mfa, "time": rng.choice(TIMES),
                       "environment": "production" if target.startswith("prod/") else
                       "development"},
            team_context=f"{actor.capitalize()} works on the platform team as a {role}.",
            model_name=model_name, model_version=model_version,
            prompt_version=rng.choice(PROMPTS), decision=decision,
            classification=None if decision == "unparseable" else f"{action}_{decision}",
            risk_level=rng.choice(["low", "medium", "high", "critical"]),
            reasoning=reasoning,
            full_response=None if reasoning is None else f"DECISION: {decision}\n"
                                                           f"REASONING: {reasoning}",
            expected_decision=expected, decision_correct=correct,
            reasoning_coverage=None if expected is None else round(rng.uniform(0.25, 1.0), 2),
            scenario_id=None if expected is None else
            f"{rng.choice('EMH')}{rng.randint(1, 12):02d}",
            tags=[action, role],
            timestamp=moment.isoformat(timespec="microseconds"),
            confidence=None if decision == "unparseable" else round(rng.uniform(0.3, 0.99), 3),
            run_id=rng.choice(run_ids) if run_ids and in_suite else None,
        )


def build_demo_log(log: PolicyDecisionLog, count: int = 400, *, seed: int = 7,
                   reviewed_share: float = 0.3, reviewer: str = "sam") -> None:
    """Fill ``log`` with ``count`` demo decisions, two runs and some reviews."""
    rng = random.Random(seed + 1)
    runs = [f"run_demo_{seed}_{number}" for number in range(len(MODELS))]
    decisions = list(demo_decisions(count, seed=seed, run_ids=runs))
    for run_id, (name, version), prompt in zip(runs, MODELS, PROMPTS, strict=True):
        scenarios = sorted({d.scenario_id for d in decisions
                            if d.run_id == run_id and d.scenario_id})
        log.start_run(run_id=run_id, model_name=name, model_version=version,
                      prompt_version=prompt, scenario_ids=scenarios)
    log.log_decisions(decisions)
    for run_id in runs:
        log.finish_run(run_id, "completed")
    older = decisions[: int(len(decisions) * 0.8)]
    for decision in rng.sample(older, int(len(decisions) * reviewed_share)):
        assert decision.decision_id is not None
        better = (f"The policy asks for this: a {decision.situation['role']} may not do this "
                  "alone, and the target is sensitive.")
        if decision.decision == "unparseable" or decision.decision_correct is False:
            fixed = decision.expected_decision or "deny"
            with_reason = decision.decision == "unparseable" or rng.random() < 0.5
            log.mark_reviewed(decision.decision_id, fixed, better if with_reason else None,
                              reviewer)
        elif rng.random() < 0.15:
            log.mark_reviewed(decision.decision_id, review_reasoning=better, reviewer=reviewer)
        else:
            log.mark_reviewed(decision.decision_id, reviewer=reviewer)
