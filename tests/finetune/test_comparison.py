"""Old vs tuned on held-out reviews: the paired figures, the text, the saved record, and the
engine-faithful decision choice the in-process validation uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_desktop.engine.prompts import build_user
from policy_desktop.finetune.comparison import COMPARISON_FILE, Case, Comparison, describe, save
from policy_desktop.finetune.encoding import LabelPaths
from policy_desktop.finetune.registry import RegisteredModel


def _comparison() -> Comparison:
    expected = ["deny"] * 6 + ["allow"] * 4
    old = ["allow"] * 6 + ["allow"] * 4           # old: right on the 4 allows only
    new = ["deny"] * 5 + ["allow"] + ["allow"] * 3 + ["deny"]  # fixes 5, breaks 1
    cases = tuple(Case(f"d{i}", f"actor: a{i}", e) for i, e in enumerate(expected))
    return Comparison("base + v2", "tuned + v3", cases, tuple(old), tuple(new),
                      seconds={"base + v2": 12.0, "tuned + v3": 3.0})


def test_paired_figures_overall_and_per_decision() -> None:
    comparison = _comparison()
    overall = comparison.paired()
    assert (overall.n, overall.accuracy_a, overall.accuracy_b) == (10, 0.4, 0.8)
    assert (overall.b, overall.c) == (1, 5)  # broken, fixed
    assert overall.p_value == pytest.approx(2 * (1 + 6) / 2**6)  # exact binomial, 1 of 6
    per = comparison.per_decision()
    assert list(per) == ["allow", "deny"]
    assert (per["deny"].accuracy_a, per["deny"].accuracy_b) == (0.0, 5 / 6)
    assert (per["allow"].accuracy_a, per["allow"].accuracy_b) == (1.0, 0.75)
    assert comparison.confusion("new") == {"deny": {"deny": 5, "allow": 1},
                                           "allow": {"allow": 3, "deny": 1}}


def test_the_description_names_both_models_the_test_and_the_interval() -> None:
    lines = describe(_comparison())
    assert lines[0] == ("Held-out reviewed decisions (10, never trained on): old base + v2 "
                        "40.0 %, new tuned + v3 80.0 %")
    assert "difference +40.0 points, 95 % CI [" in lines[1]
    assert "McNemar exact p = 0.219 (5 fixed, 1 broken)" in lines[1]
    assert lines[2].split() == ["allow", "n=4", "old", "100.0", "%", "new", "75.0", "%",
                                "p", "=", "1"]


def test_saved_beside_the_model(tmp_path: Path) -> None:
    model = RegisteredModel(name="m", folder=tmp_path, record={})
    path = save(model, _comparison())
    assert path == tmp_path / COMPARISON_FILE
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["overall"]["accuracy_new"] == 0.8 and saved["cases"] == 10
    assert saved["decisions"][0] == {"id": "d0", "expected": "deny", "old": "allow",
                                     "new": "deny"}
    assert not list(tmp_path.glob(".*partial"))


def test_a_case_is_sent_as_the_runner_sends_a_situation() -> None:
    from policy_desktop.engine.prompts import format_situation

    situation = {"actor": "ana", "role": "member", "trust_score": 0.5}
    case = Case("x", format_situation(situation, "Team."), "deny")
    assert case.user == build_user(situation, "Team.")


def test_the_decision_is_chosen_greedily_as_the_engine_does() -> None:
    """``require`` is the likeliest first token but splits between two labels: summed
    scores would pick ``allow``, the engine's skeleton decoder picks a ``require_*``."""
    paths = LabelPaths(tokens={"allow": (1, 9), "deny": (2, 9),
                               "require_attestation": (3, 4, 5, 9),
                               "require_mfa": (3, 4, 6, 9)},
                       depth={"allow": 1, "deny": 1, "require_attestation": 3,
                              "require_mfa": 3},
                       feeds=((3, 4),))
    table = {0: {1: -1.0, 2: -1.2, 3: -0.9}, 1: {4: 0.0}, 2: {5: -0.6, 6: -0.8}}

    def logp(label: str, j: int):  # type: ignore[no-untyped-def]
        return lambda token: table[j][token]

    summed = {label: sum(table[j][t] for j, t in enumerate(path[:paths.depth[label]]))
              for label, path in paths.tokens.items()}
    assert max(summed, key=summed.__getitem__) == "allow"
    assert paths.choose(logp) == "require_attestation"
    table[2] = {5: -0.8, 6: -0.6}
    assert paths.choose(logp) == "require_mfa"
    table[0][1] = -0.5
    assert paths.choose(logp) == "allow"
