"""The benchmark's situation generator: balanced, distinct, and labelled by the policy."""

from __future__ import annotations

from collections import Counter

import pytest

from policy_desktop.finetune.synthetic import (
    RULE_DECISIONS,
    LabelledSituation,
    first_rule,
    generate,
    split,
)
from policy_desktop.vocabulary import DECISIONS


def test_generated_situations_are_balanced_distinct_and_cover_every_rule() -> None:
    items = generate(200, seed=1)
    assert Counter(i.decision for i in items) == {d: 50 for d in DECISIONS}
    assert set(Counter(i.rule for i in items)) == set(RULE_DECISIONS)
    keys = {repr(sorted(i.situation.items())) + i.team_context for i in items}
    assert len(keys) == 200
    assert all(first_rule(i.situation, i.team_context) == i.rule for i in items)
    assert generate(200, seed=1) == items and generate(200, seed=2) != items


def _s(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"actor": "a", "role": "member", "action": "read",
                               "target": "repos/web/src/ui.py", "environment": "development",
                               "trust_score": 0.9, "mfa_verified": True,
                               "time": "Monday 10:00"}
    base.update(fields)
    return base


def test_the_rules_apply_in_the_policy_order() -> None:
    assert first_rule(_s(trust_score=0.18)) == 1
    assert first_rule(_s(role="admin", action="export", target="secrets/x_token")) == 2
    assert first_rule(_s(role="admin", action="disable_audit_log", target="audit/logs")) == 3
    assert first_rule(_s(role="guest", action="read")) == 4
    assert first_rule(_s(role="contractor", action="write"), "Contractor on web.") == 10
    assert first_rule(_s(role="contractor", action="write"), "Contractor on auth.") == 4
    assert first_rule(_s(role="maintainer", action="drop")) == 5
    production = {"action": "deploy", "environment": "production",
                  "target": "production/services/api"}
    assert first_rule(_s(role="maintainer", trust_score=0.5, **production)) == 6
    assert first_rule(_s(role="maintainer", mfa_verified=False, **production)) == 7
    assert first_rule(_s(action="write", mfa_verified=False, time="Sunday 11:00")) == 8
    assert first_rule(_s(action="write", mfa_verified=False, time="Tuesday 19:30")) == 8
    assert first_rule(_s(action="read", mfa_verified=False, time="Sunday 11:00")) == 10
    assert first_rule(_s(role="maintainer", **production)) == 9
    assert first_rule(_s(role="admin", action="purge")) == 9


def test_split_parts_are_balanced_and_share_no_situation() -> None:
    items = generate(40, seed=3)
    train, held = split(items, 24, 16)
    assert Counter(i.decision for i in train) == {d: 6 for d in DECISIONS}
    assert Counter(i.decision for i in held) == {d: 4 for d in DECISIONS}
    assert not {i.fingerprint for i in train} & {i.fingerprint for i in held}
    twin = train[0]
    with pytest.raises(ValueError, match="1 situations are in both parts"):
        split([*train, twin, *held], 24, 17)
    with pytest.raises(ValueError, match="cannot be split"):
        split(items, 30, 11)


def test_the_fingerprint_covers_the_team_context() -> None:
    item = generate(1, seed=0)[0]
    other = LabelledSituation(situation=dict(item.situation),
                              team_context=item.team_context + " Other.", rule=item.rule)
    assert item.fingerprint != other.fingerprint
    assert item.fingerprint == LabelledSituation(dict(item.situation), item.team_context,
                                                 item.rule).fingerprint
