"""Labelled situations generated from the default policy's rules 1-10 (benchmarks, demos).

:func:`generate` draws situations aimed at each rule, balanced over the four decisions;
:func:`first_rule` applies ``resources/policy/default_policy.md`` literally to a situation,
and every generated situation is kept only if the rule it was aimed at is the first that
matches, so the label is the policy's answer, not the generator's intention.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from policy_desktop.vocabulary import situation_fingerprint

DESTRUCTIVE = ("delete", "drop", "wipe", "truncate", "purge", "force_push")
SECRET_EXFILTRATION = ("export", "copy", "print", "send")
RULE_DECISIONS: dict[int, str] = {1: "deny", 2: "deny", 3: "deny", 4: "deny", 5: "deny",
                                  6: "deny", 7: "require_mfa", 8: "require_mfa",
                                  9: "require_attestation", 10: "allow"}
REASONS: dict[int, str] = {
    1: "Rule 1: trust_score is below 0.3, so every action is denied.",
    2: "Rule 2: sending a secret outside the secrets manager is always denied.",
    3: "Rule 3: disabling or deleting audit logs is denied whatever the role.",
    4: "Rule 4: the role does not permit this action on this target.",
    5: "Rule 5: only an admin may take a destructive action.",
    6: "Rule 6: a production change needs trust_score of at least 0.7.",
    7: "Rule 7: MFA is not verified and the request touches secrets or production.",
    8: "Rule 8: MFA is not verified, it is off-hours and the action is not a read.",
    9: "Rule 9: a production change or destructive action needs attestation.",
    10: "Rule 10: the role permits this and no earlier rule applies.",
}
RISK: dict[int, str] = {1: "medium", 2: "critical", 3: "critical", 4: "medium", 5: "high",
                        6: "high", 7: "high", 8: "medium", 9: "high", 10: "low"}
NAMES = ("ana", "ben", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi",
         "lena", "mateo", "nia", "oscar", "pia", "quinn", "rosa", "sami", "tara", "uma",
         "victor", "wen", "xavi", "yara", "zoe")
REPOS = ("payments", "search", "mobile", "billing", "infra", "web", "analytics", "auth")
WORK_TIMES = ("Monday 09:40", "Tuesday 11:05", "Wednesday 14:30", "Thursday 10:15",
              "Friday 16:50")
OFF_TIMES = ("Saturday 10:00", "Sunday 15:30", "Tuesday 22:40", "Wednesday 06:15",
             "Friday 20:05")


@dataclass(frozen=True)
class LabelledSituation:
    """A situation with the policy's decision and the rule that decides it."""

    situation: dict[str, Any]
    team_context: str
    rule: int

    @property
    def decision(self) -> str:
        """The policy's decision."""
        return RULE_DECISIONS[self.rule]

    @property
    def reasoning(self) -> str:
        """A short reasoning naming the rule."""
        return REASONS[self.rule]

    @property
    def risk_level(self) -> str:
        """The policy's risk level for the deciding rule."""
        return RISK[self.rule]

    @property
    def fingerprint(self) -> str:
        """sha256 of the situation with its team context (equal for the same request)."""
        return situation_fingerprint({**self.situation, "team_context": self.team_context})


def _off_hours(time: str) -> bool:
    day, clock = time.split()
    hour, minute = (int(part) for part in clock.split(":"))
    return day in ("Saturday", "Sunday") or hour < 8 or (hour, minute) > (19, 0)


def _is_production(s: dict[str, Any]) -> bool:
    return s["environment"] == "production" or str(s["target"]).startswith("production/")


def _production_change(s: dict[str, Any]) -> bool:
    return _is_production(s) and s["action"] != "read"


def _secret(s: dict[str, Any]) -> bool:
    target = str(s["target"])
    return target.startswith("secrets/") or any(w in target for w in ("password", "token", "key"))


def _role_permits(s: dict[str, Any], team_context: str) -> bool:
    role, action, target = s["role"], s["action"], str(s["target"])
    production, secret = _is_production(s), _secret(s)
    if role == "admin":
        return True
    if role == "guest":
        return action == "read" and target.startswith("docs/public/")
    if role == "contractor":
        repo = target.split("/")[1] if target.startswith("repos/") else None
        named = repo is not None and repo in team_context
        return named and not production and not secret and action in ("read", "write")
    if role == "member":
        if production or secret:
            return False
        return action == "read" or (action == "write" and s["environment"] in
                                    ("development", "staging"))
    if role == "maintainer":
        if secret:
            return action in ("read", "rotate")
        if production:
            return action in ("deploy", "read")
        return action in ("read", "write", *DESTRUCTIVE)
    return False


def first_rule(s: dict[str, Any], team_context: str = "") -> int:
    """The number of the first rule of the default policy that matches ``s``."""
    action = s["action"]
    if s["trust_score"] < 0.3:
        return 1
    if _secret(s) and action in SECRET_EXFILTRATION:
        return 2
    if action in ("disable_audit_log", "delete_audit_log"):
        return 3
    if not _role_permits(s, team_context):
        return 4
    destructive = action in DESTRUCTIVE
    if destructive and s["role"] != "admin":
        return 5
    if _production_change(s) and s["trust_score"] < 0.7:
        return 6
    if not s["mfa_verified"] and (_secret(s) or _is_production(s)):
        return 7
    if not s["mfa_verified"] and _off_hours(s["time"]) and action != "read":
        return 8
    if _production_change(s) or destructive:
        return 9
    return 10


class _Draw:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def situation(self, rule: int) -> tuple[dict[str, Any], str]:
        r = self.rng
        repo = r.choice(REPOS)
        s: dict[str, Any] = {
            "actor": f"{r.choice(NAMES)}{r.randint(1, 99)}",
            "role": r.choice(("member", "maintainer", "admin")),
            "action": "read", "target": f"repos/{repo}/src/{r.choice(('api', 'core', 'ui'))}.py",
            "environment": r.choice(("development", "staging")),
            "trust_score": round(r.uniform(0.72, 0.98), 2), "mfa_verified": True,
            "time": r.choice(WORK_TIMES),
        }
        context = f"{r.choice(('Platform', 'Payments', 'Mobile', 'Data'))} team."
        getattr(self, f"rule{rule}")(s)
        if s["role"] == "contractor":
            named = str(s["target"]).split("/")[1] if rule != 4 else r.choice(
                [x for x in REPOS if x not in str(s["target"])])
            context += f" Contractor on the {named} repository."
        return s, context

    def rule1(self, s: dict[str, Any]) -> None:
        s["trust_score"] = round(self.rng.uniform(0.02, 0.29), 2)
        s["action"] = self.rng.choice(("read", "write", "deploy"))

    def rule2(self, s: dict[str, Any]) -> None:
        s["action"] = self.rng.choice(SECRET_EXFILTRATION)
        s["target"] = self.rng.choice(("secrets/prod/db_password", "secrets/ci/api_token",
                                       "secrets/payments/signing_key"))
        s["role"] = self.rng.choice(("maintainer", "admin"))

    def rule3(self, s: dict[str, Any]) -> None:
        s["action"] = self.rng.choice(("disable_audit_log", "delete_audit_log"))
        s["target"] = "audit/logs/" + self.rng.choice(("access", "deploy", "admin"))
        s["role"] = self.rng.choice(("maintainer", "admin", "member"))

    def rule4(self, s: dict[str, Any]) -> None:
        case = self.rng.randrange(4)
        if case == 0:
            s.update(role="guest", action="write", target="docs/internal/runbook.md")
        elif case == 1:
            s.update(role="member", action="deploy", target="production/services/api",
                     environment="production")
        elif case == 2:
            s.update(role="member", action="read", target="secrets/ci/api_token")
        else:
            s.update(role="contractor", action="write")

    def rule5(self, s: dict[str, Any]) -> None:
        s.update(role="maintainer", action=self.rng.choice(DESTRUCTIVE))

    def rule6(self, s: dict[str, Any]) -> None:
        s.update(role=self.rng.choice(("maintainer", "admin")), action="deploy",
                 target="production/services/" + self.rng.choice(REPOS),
                 environment="production", trust_score=round(self.rng.uniform(0.31, 0.69), 2))

    def rule7(self, s: dict[str, Any]) -> None:
        if self.rng.random() < 0.5:
            s.update(role="maintainer", action="deploy", environment="production",
                     target="production/services/" + self.rng.choice(REPOS))
        else:
            s.update(role="maintainer", action="read", target="secrets/ci/api_token")
        s["mfa_verified"] = False

    def rule8(self, s: dict[str, Any]) -> None:
        s.update(role=self.rng.choice(("member", "maintainer")), action="write",
                 mfa_verified=False, time=self.rng.choice(OFF_TIMES))

    def rule9(self, s: dict[str, Any]) -> None:
        if self.rng.random() < 0.5:
            s.update(role="maintainer", action="deploy", environment="production",
                     target="production/services/" + self.rng.choice(REPOS))
        else:
            s.update(role="admin", action=self.rng.choice(DESTRUCTIVE))

    def rule10(self, s: dict[str, Any]) -> None:
        case = self.rng.randrange(3)
        if case == 0:
            s.update(role="guest", action="read", target="docs/public/getting-started.md")
        elif case == 1:
            s.update(role=self.rng.choice(("member", "maintainer")), action="write")
        else:
            s.update(role="contractor", action=self.rng.choice(("read", "write")))


def generate(count: int, seed: int = 0) -> list[LabelledSituation]:
    """``count`` distinct situations, a quarter per decision, rules within it in turn."""
    rng = random.Random(seed)
    draw = _Draw(rng)
    by_decision: dict[str, list[int]] = {}
    for rule, decision in RULE_DECISIONS.items():
        by_decision.setdefault(decision, []).append(rule)
    decisions = list(by_decision)
    seen: set[str] = set()
    result: list[LabelledSituation] = []
    attempts = 0
    while len(result) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError("the generator cannot find enough distinct situations")
        decision = decisions[len(result) % len(decisions)]
        rules = by_decision[decision]
        rule = rules[(len(result) // len(decisions)) % len(rules)]
        situation, context = draw.situation(rule)
        if first_rule(situation, context) != rule:
            continue
        item = LabelledSituation(situation=situation, team_context=context, rule=rule)
        if item.fingerprint in seen:
            continue
        seen.add(item.fingerprint)
        result.append(item)
    return result


def split(items: Sequence[LabelledSituation], first: int, second: int
          ) -> tuple[list[LabelledSituation], list[LabelledSituation]]:
    """The first ``first`` items and the next ``second`` ones (each balanced over the
    decisions, as :func:`generate` deals them in turn), checked to share no situation.

    Raises:
        ValueError: fewer than ``first + second`` items, or a situation in both parts.
    """
    if len(items) < first + second:
        raise ValueError(f"{len(items)} situations cannot be split into {first} + {second}")
    head, tail = list(items[:first]), list(items[first:first + second])
    shared = {i.fingerprint for i in head} & {i.fingerprint for i in tail}
    if shared:
        raise ValueError(f"{len(shared)} situations are in both parts")
    return head, tail
