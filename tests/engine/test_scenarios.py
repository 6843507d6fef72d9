"""Tests of the scenario suite loader (real TOML files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_desktop.engine.scenarios import (
    Scenario,
    ScenarioFileError,
    ScenarioSuite,
    default_suite_path,
    load_suite,
)
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS, situation_fingerprint

VALID_SCENARIO = """
[[scenario]]
id = "{id}"
difficulty = "easy"
description = "A member reads docs."
team_context = "Docs team."
expected_decision = "{decision}"
expected_classification = "routine_read_access"
expected_risk_level = "low"
expected_reasoning = ["Members may read docs.", "Reading is low risk."]
tags = ["read"]

[scenario.situation]
actor = "{actor}"
role = "member"
action = "read"
target = "docs/readme.md"
trust_score = 0.8
mfa_verified = true
"""


def scenario_toml(scenario_id: str, decision: str = "allow", actor: str = "alice") -> str:
    return VALID_SCENARIO.format(id=scenario_id, decision=decision, actor=actor)


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioFileError) as info:
        load_suite(path)
    assert info.value.path == path
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


@pytest.fixture
def suite(tmp_path: Path) -> ScenarioSuite:
    text = 'quick = ["A2", "A1"]\n' + "".join(
        scenario_toml(f"A{i}", decision, actor=f"user{i}")
        for i, decision in enumerate(DECISIONS, start=1)
    )
    return load_suite(write(tmp_path, text))


# --- the shipped suite -----------------------------------------------------------------


def test_default_suite_loads_with_the_expected_ids() -> None:
    default = load_suite()
    assert default.path == default_suite_path()
    assert [s.scenario_id for s in default.scenarios] == [
        "E01",
        "E02",
        "E03",
        "M01",
        "M02",
        "M03",
        "H01",
        "H02",
    ]
    assert default.quick_ids == ("E01", "E02", "M01")


def test_default_suite_content_is_complete() -> None:
    default = load_suite()
    assert {s.expected_decision for s in default.scenarios} == set(DECISIONS)
    assert [s.expected_decision for s in default.select()] == [
        "allow",
        "deny",
        "require_attestation",
    ]
    e01 = default.get("E01")
    assert e01.situation["actor"] == "alice"
    assert e01.situation["role"] == "member"
    assert e01.situation["action"] == "read"
    assert e01.situation["target"] == "docs/readme.md"
    for scenario in default.scenarios:
        assert 2 <= len(scenario.expected_reasoning) <= 4, scenario.scenario_id
        assert scenario.expected_risk_level in RISK_LEVELS
        assert scenario.expected_classification
        assert scenario.team_context
        assert (
            scenario.difficulty
            == {"E": "easy", "M": "medium", "H": "hard"}[scenario.scenario_id[0]]
        )
    assert len(default.fingerprints()) == 8


def test_default_suite_path_is_shipped() -> None:
    assert default_suite_path().is_file()
    assert default_suite_path().name == "default.toml"


# --- a valid file ----------------------------------------------------------------------


def test_load_valid_file(suite: ScenarioSuite) -> None:
    assert len(suite.scenarios) == 4
    first = suite.scenarios[0]
    assert isinstance(first, Scenario)
    assert first.scenario_id == "A1"
    assert first.difficulty == "easy"
    assert first.description == "A member reads docs."
    assert first.team_context == "Docs team."
    assert first.expected_decision == "allow"
    assert first.expected_classification == "routine_read_access"
    assert first.expected_risk_level == "low"
    assert first.expected_reasoning == ("Members may read docs.", "Reading is low risk.")
    assert first.tags == ("read",)
    assert list(first.situation) == [
        "actor",
        "role",
        "action",
        "target",
        "trust_score",
        "mfa_verified",
    ]
    assert first.situation["trust_score"] == 0.8
    assert first.situation["mfa_verified"] is True


def test_load_accepts_str_path(tmp_path: Path) -> None:
    path = write(tmp_path, scenario_toml("X1"))
    assert load_suite(str(path)).path == path


def test_optional_fields_may_be_omitted(tmp_path: Path) -> None:
    text = """
[[scenario]]
id = "X1"
difficulty = "hard"
description = "Minimal."
expected_decision = "deny"
expected_reasoning = ["One point."]

[scenario.situation]
actor = "a"
role = "guest"
action = "write"
target = "t"
nested = { level = 2, items = [1, "two", 3.5, true] }
"""
    suite = load_suite(write(tmp_path, text))
    scenario = suite.get("X1")
    assert scenario.team_context is None
    assert scenario.expected_classification is None
    assert scenario.expected_risk_level is None
    assert scenario.tags == ()
    assert scenario.situation["nested"] == {"level": 2, "items": [1, "two", 3.5, True]}
    assert suite.quick_ids == ("X1",)  # no quick list: every scenario


# --- selection -------------------------------------------------------------------------


def test_select_quick_by_default(suite: ScenarioSuite) -> None:
    assert [s.scenario_id for s in suite.select()] == ["A2", "A1"]


def test_select_full(suite: ScenarioSuite) -> None:
    assert [s.scenario_id for s in suite.select(full=True)] == ["A1", "A2", "A3", "A4"]


def test_select_only_wins_over_full(suite: ScenarioSuite) -> None:
    chosen = suite.select(full=True, only=["A4", "A3", "A4"])
    assert [s.scenario_id for s in chosen] == ["A4", "A3"]


def test_select_only_unknown_ids_lists_known(suite: ScenarioSuite) -> None:
    with pytest.raises(ScenarioFileError) as info:
        suite.select(only=["A1", "Z9", "Q1"])
    message = str(info.value)
    assert "'Z9'" in message
    assert "'Q1'" in message
    assert "A1, A2, A3, A4" in message
    assert len(info.value.problems) == 2


def test_get_unknown_lists_known(suite: ScenarioSuite) -> None:
    assert suite.get("A3").expected_decision == DECISIONS[2]
    with pytest.raises(ScenarioFileError, match=r"'nope'.*A1, A2, A3, A4"):
        suite.get("nope")


def test_fingerprints(suite: ScenarioSuite) -> None:
    expected = {situation_fingerprint(s.situation) for s in suite.scenarios}
    assert suite.fingerprints() == frozenset(expected)
    assert len(suite.fingerprints()) == 4
    reordered = dict(reversed(list(suite.scenarios[0].situation.items())))
    assert situation_fingerprint(reordered) in suite.fingerprints()


# --- every validation error kind --------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.toml")
    assert problems == ["file: not found"]


def test_not_toml_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'quick = ["E01"]\n\n[[scenario]\nid = "x"\n')
    (problem,) = problems_of(path)
    assert problem.startswith("file: not valid TOML")
    assert "line 3" in problem


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "caf\xe9"'.encode("latin-1"))
    (problem,) = problems_of(path)
    assert problem.startswith("file: cannot be read")


def test_empty_suite(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "")) == [
        "scenario: the suite has no scenarios (add [[scenario]] tables)"
    ]


def test_scenario_not_array_of_tables(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, 'scenario = "E01"\n'))
    assert problems == ["scenario: must be an array of tables ([[scenario]])"]


def test_unknown_keys(tmp_path: Path) -> None:
    text = "version = 2\n" + scenario_toml("A1").replace(
        'tags = ["read"]', 'tags = ["read"]\nexpected_decison = "allow"'
    )
    problems = problems_of(write(tmp_path, text))
    assert "version: unknown top-level key" in problems
    assert "A1.expected_decison: unknown key" in problems


def test_missing_fields_are_all_reported(tmp_path: Path) -> None:
    text = '[[scenario]]\nid = "B1"\n'
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "B1.difficulty: missing",
        "B1.description: missing",
        "B1.situation: missing (add a [scenario.situation] table)",
        "B1.expected_decision: missing",
        "B1.expected_reasoning: missing",
    ]


def test_missing_id_uses_position(tmp_path: Path) -> None:
    text = scenario_toml("A1") + scenario_toml("A2").replace('id = "A2"\n', "")
    problems = problems_of(write(tmp_path, text))
    assert problems == ["scenario #2.id: missing"]


def test_bad_id(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, scenario_toml("bad id!")))
    assert problems == ["bad id!.id: 'bad id!' must match [A-Za-z0-9][A-Za-z0-9_.-]*"]


def test_wrong_types(tmp_path: Path) -> None:
    text = (
        scenario_toml("C1")
        .replace('difficulty = "easy"', "difficulty = 1")
        .replace('description = "A member reads docs."', "description = true")
        .replace('team_context = "Docs team."', "team_context = [1]")
        .replace('tags = ["read"]', "tags = [1, 2]")
        .replace(
            'expected_reasoning = ["Members may read docs.", "Reading is low risk."]',
            'expected_reasoning = "one string"',
        )
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "C1.difficulty: must be a string, not an integer",
        "C1.description: must be a string, not a boolean",
        "C1.team_context: must be a string, not an array",
        "C1.expected_reasoning: must be a list of strings",
        "C1.tags: must be a list of strings",
    ]


def test_empty_strings(tmp_path: Path) -> None:
    text = scenario_toml("C2").replace('description = "A member reads docs."', 'description = " "')
    text = text.replace('tags = ["read"]', 'tags = ["", "x"]')
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "C2.description: must not be empty",
        "C2.tags: must not contain empty strings",
    ]


def test_unknown_decision_risk_difficulty_and_classification(tmp_path: Path) -> None:
    text = (
        scenario_toml("M02", decision="permit")
        .replace('expected_risk_level = "low"', 'expected_risk_level = "extreme"')
        .replace('difficulty = "easy"', 'difficulty = "trivial"')
        .replace('"routine_read_access"', '"Routine Read"')
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "M02.difficulty: 'trivial' is not one of easy, medium, hard",
        "M02.expected_decision: 'permit' is not one of allow, deny, require_attestation, "
        "require_mfa",
        "M02.expected_classification: 'Routine Read' is not a snake_case label like "
        "'routine_read_access'",
        "M02.expected_risk_level: 'extreme' is not one of low, medium, high, critical",
    ]


@pytest.mark.parametrize("count", [0, 7])
def test_reasoning_point_count(tmp_path: Path, count: int) -> None:
    points = ", ".join(f'"point {i}"' for i in range(count))
    text = scenario_toml("D1").replace(
        'expected_reasoning = ["Members may read docs.", "Reading is low risk."]',
        f"expected_reasoning = [{points}]",
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == [f"D1.expected_reasoning: has {count} key points; 1 to 6 are allowed"]


def test_situation_problems(tmp_path: Path) -> None:
    text = (
        scenario_toml("S1")
        .replace('actor = "alice"\n', "")
        .replace('role = "member"', "role = 3")
        .replace('target = "docs/readme.md"', 'target = ""\nwhen = 02:15:00\nbad = [1979-05-27]')
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "S1.situation.actor: missing",
        "S1.situation.role: must be a non-empty string",
        "S1.situation.target: must be a non-empty string",
        "S1.situation.when: TOML time values are not supported; quote it",
        "S1.situation.bad[0]: TOML date values are not supported; quote it",
    ]


def test_non_finite_float_in_situation(tmp_path: Path) -> None:
    text = scenario_toml("S3").replace("trust_score = 0.8", "trust_score = nan")
    assert problems_of(write(tmp_path, text)) == [
        "S3.situation.trust_score: nan is not a finite number"
    ]


def test_situation_not_a_table(tmp_path: Path) -> None:
    text = scenario_toml("S2").split("[scenario.situation]")[0] + 'situation = "x"\n'
    assert problems_of(write(tmp_path, text)) == ["S2.situation: must be a table, not a string"]


def test_duplicate_ids(tmp_path: Path) -> None:
    text = scenario_toml("E01") + scenario_toml("E02", actor="b") + scenario_toml("E01", actor="c")
    assert problems_of(write(tmp_path, text)) == ["E01.id: duplicate id (scenarios #1 and #3)"]


def test_quick_problems(tmp_path: Path) -> None:
    text = 'quick = ["A1", "Z1", "A1"]\n' + scenario_toml("A1")
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "quick: scenario id 'A1' is listed more than once",
        "quick: unknown scenario id 'Z1' (known: A1)",
    ]


def test_quick_wrong_type_and_empty(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "quick = [1]\n" + scenario_toml("A1"))) == [
        "quick: must be a list of scenario ids (strings)"
    ]
    assert problems_of(write(tmp_path, "quick = []\n" + scenario_toml("A1"))) == [
        "quick: must name at least one scenario id"
    ]


def test_quick_id_of_an_invalid_scenario_is_not_called_unknown(tmp_path: Path) -> None:
    text = 'quick = ["A1"]\n' + scenario_toml("A1", decision="permit")
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "A1.expected_decision: 'permit' is not one of allow, deny, require_attestation, require_mfa"
    ]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = (
        'quick = ["Q9"]\n'
        + scenario_toml("A1", decision="permit")
        + scenario_toml("A2").replace('difficulty = "easy"\n', "")
        + scenario_toml("A1", actor="z")
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "A1.expected_decision: 'permit' is not one of allow, deny, require_attestation, "
        "require_mfa",
        "A2.difficulty: missing",
        "A1.id: duplicate id (scenarios #1 and #3)",
        "quick: unknown scenario id 'Q9' (known: A1, A2)",
    ]
    error_text = str(load_error(tmp_path / "suite.toml"))
    assert error_text.splitlines()[1:] == problems


def load_error(path: Path) -> ScenarioFileError:
    try:
        load_suite(path)
    except ScenarioFileError as exc:
        return exc
    raise AssertionError("expected a ScenarioFileError")


def test_scenario_file_error_is_a_value_error(tmp_path: Path) -> None:
    error = ScenarioFileError(tmp_path / "x.toml", ["a: b", "c: d"])
    assert isinstance(error, ValueError)
    assert str(error) == f"{tmp_path / 'x.toml'}:\na: b\nc: d"
