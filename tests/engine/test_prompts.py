"""Tests of the examples format, prompt building and the prompt catalog."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from policy_desktop.engine import prompts
from policy_desktop.engine.prompts import (
    ANSWER_HEADER,
    DEFAULT_PROMPT_VERSION,
    SITUATION_HEADER,
    FewShotExample,
    PromptCatalog,
    PromptError,
    PromptParts,
    PromptVersion,
    UnknownPromptVersion,
    build_prompt,
    format_answer,
    format_example,
    format_examples,
    format_situation,
    load_policy,
    parse_examples,
    toml_string,
)
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.vocabulary import DECISIONS, situation_fingerprint

HOSTILE_STRINGS = [
    'He said "hi"',
    "back\\slash \\n not a newline",
    "<b>bold</b> & <script>alert(1)</script>",
    "line one\nline two\r\nline three",
    "Zoë, 東京, emoji 🔐, NBSP\u00a0inside",
    "  padded  ",
    "",
    "42",
    "true",
    "null",
    '"quoted"',
    "[1, 2]",
    '{"a": 1}',
    "NaN",
    "key: value: more",
    "### Answer",
    "### Situation",
    "tab\tinside",
    "sep\u2028arator\u2029 and \x85 and \x7f",
    "trailing backslash \\",
]

SHIPPED = [DEFAULT_PROMPT_VERSION, "v3_tuned_short"]
"""The shipped prompt versions: few-shot (the default) and the fine-tuned model's short one."""


def example(
    situation: dict[str, Any] | None = None,
    team_context: str | None = "Team context.",
    decision: str = "allow",
    reasoning: str = "Members may read docs.",
) -> FewShotExample:
    return FewShotExample(
        situation=situation if situation is not None else {"actor": "alice", "role": "member"},
        team_context=team_context,
        decision=decision,
        classification="routine_read_access",
        risk_level="low",
        reasoning=reasoning,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> PromptCatalog:
    return PromptCatalog(custom_dir=tmp_path / "custom")


@pytest.fixture
def examples_file(tmp_path: Path) -> Path:
    examples = [example(decision=d, reasoning=f"Because {d}.") for d in DECISIONS]
    return write(tmp_path / "fewshot_examples.txt", format_examples(examples))


# --- formatting ------------------------------------------------------------------------


def test_format_situation_keeps_order_and_plain_strings() -> None:
    situation = {"target": "docs/readme.md", "actor": "alice", "trust_score": 0.85}
    text = format_situation(situation, "Docs team.")
    assert text.splitlines() == [
        "target: docs/readme.md",
        "actor: alice",
        "trust_score: 0.85",
        "team_context: Docs team.",
    ]


def test_format_situation_values_as_json_when_needed() -> None:
    situation = {
        "mfa_verified": False,
        "count": 3,
        "nothing": None,
        "groups": ["a", "b"],
        "meta": {"x": 1},
        "number_text": "0.9",
        "multi": "a\nb",
        "time": "Tuesday 10:30",
        "team_context": "inside the situation",
        "two words": "x",
    }
    lines = format_situation(situation, None).splitlines()
    assert lines == [
        "mfa_verified: false",
        "count: 3",
        "nothing: null",
        'groups: ["a", "b"]',
        'meta: {"x": 1}',
        'number_text: "0.9"',
        'multi: "a\\nb"',
        "time: Tuesday 10:30",
        '"team_context": inside the situation',
        '"two words": x',
    ]


def test_format_situation_without_team_context() -> None:
    assert format_situation({"actor": "a"}, None) == "actor: a"


def test_format_situation_rejects_values_without_json_form() -> None:
    with pytest.raises(PromptError, match="cannot be written as JSON"):
        format_situation({"when": object()}, None)


def test_format_answer_is_one_ordered_json_line() -> None:
    line = format_answer("deny", None, "high", 'Say "no"\nnow — é')
    assert "\n" not in line
    assert list(json.loads(line)) == ["decision", "classification", "risk_level", "reasoning"]
    assert json.loads(line)["reasoning"] == 'Say "no"\nnow — é'
    assert "é" in line  # ensure_ascii=False
    assert line.startswith(prompts.ANSWER_PRIMER)


def test_format_example_layout() -> None:
    text = format_example(example())
    assert text.splitlines() == [
        SITUATION_HEADER,
        "actor: alice",
        "role: member",
        "team_context: Team context.",
        ANSWER_HEADER,
        format_answer("allow", "routine_read_access", "low", "Members may read docs."),
    ]


def test_format_example_rejects_empty_situation() -> None:
    with pytest.raises(PromptError, match="non-empty situation"):
        format_example(example(situation={}))


def test_format_examples_blocks_separated_by_blank_line() -> None:
    text = format_examples([example(), example(decision="deny")])
    assert text.endswith("}\n")
    assert "}\n\n### Situation\n" in text
    assert text.count(SITUATION_HEADER) == 2
    assert format_examples([]) == ""


# --- round trip ------------------------------------------------------------------------


def test_round_trip_hostile_strings() -> None:
    examples = [
        example(
            situation={"actor": value, "target": value, "nested": {"v": value, "l": [value]}},
            team_context=value,
            reasoning=value,
        )
        for value in HOSTILE_STRINGS
    ]
    text = format_examples(examples)
    assert parse_examples(text) == examples
    # values never break lines: each example is exactly its situation lines, header and answer
    assert "\u2028" not in text and "\r" not in text and "\x85" not in text
    assert len(text.splitlines()) == len(examples) * 8 - 1


def test_round_trip_value_types() -> None:
    situation = {
        "actor": "bob",
        "trust_score": 0.1 + 0.2,
        "big": 10**30,
        "negative": -7,
        "flag": True,
        "off": False,
        "nothing": None,
        "list": [1, "two", None, [3.5]],
        "dict": {"z": 1, "a": {"deep": ["x"]}},
        "empty_list": [],
        "empty_dict": {},
        "team_context": "quoted key",
        "weird key: with colon": "v",
        "ключ": "значение",
    }
    original = [example(situation=situation, team_context=None)]
    parsed = parse_examples(format_examples(original))
    assert parsed == original
    assert list(parsed[0].situation) == list(situation)
    assert list(parsed[0].situation["dict"]) == ["z", "a"]
    assert isinstance(parsed[0].situation["negative"], int)
    assert parsed[0].situation["flag"] is True
    assert parsed[0].team_context is None


def test_round_trip_null_fields_and_every_decision() -> None:
    examples = [
        FewShotExample({"actor": "a"}, None, decision, None, None, "") for decision in DECISIONS
    ]
    assert parse_examples(format_examples(examples)) == examples


def test_parse_tolerates_crlf_bom_trailing_spaces_and_extra_blank_lines() -> None:
    original = [example(), example(decision="require_mfa")]
    text = format_examples(original)
    messy = "\ufeff\n\n" + text.replace("\n", "  \r\n").replace("}  \r\n\r\n", "}\r\n\r\n\r\n")
    assert parse_examples(messy) == original


def test_parse_empty_text() -> None:
    assert parse_examples("") == []
    assert parse_examples("\n\n") == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("hello\n", 1, "expected '### Situation'"),
        ("### Situation\nactor: a\n", 1, "missing '### Answer'"),
        ("### Situation\n### Answer\n{}\n", 1, "the situation has no keys"),
        ("### Situation\nactor a\n### Answer\n", 2, "expected 'key: value'"),
        ("### Situation\nactor:\n### Answer\n", 2, "expected 'key: value'"),
        ('### Situation\n"actor: a\n### Answer\n', 2, "bad quoted key"),
        ("### Situation\nactor: a\n\nrole: b\n", 3, "blank line inside a situation"),
        ("### Situation\nactor: a\nactor: b\n### Answer\n", 3, "duplicate situation key"),
        ("### Situation\nteam_context: t\nactor: a\n", 3, "team_context must be the last"),
        ("### Situation\nactor: a\nteam_context: 5\n", 3, "team_context must be text"),
        ("### Situation\nactor: a\n### Answer\n", 4, "missing the JSON answer"),
        ("### Situation\nactor: a\n### Answer\n\n", 4, "missing the JSON answer"),
        ("### Situation\nactor: a\n### Answer\n{bad\n", 4, "not valid JSON"),
        ("### Situation\nactor: a\n### Answer\n[1]\n", 4, "must be a JSON object"),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "permit", "reasoning": ""}\n',
            4,
            "decision 'permit' is not one of allow, deny",
        ),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "deny", "risk_level": "huge", '
            '"reasoning": ""}\n',
            4,
            "risk_level 'huge'",
        ),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "deny", "classification": 1, '
            '"reasoning": ""}\n',
            4,
            "classification must be a string",
        ),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "deny"}\n',
            4,
            "reasoning must be a string",
        ),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "deny", "reasoning": "", "x": 1}\n',
            4,
            "unknown answer keys: x",
        ),
        (
            '### Situation\nactor: a\n### Answer\n{"decision": "deny", "reasoning": ""}\nextra\n',
            5,
            "expected '### Situation'",
        ),
    ],
)
def test_parse_errors_name_source_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PromptError) as info:
        parse_examples(text, source="file.txt")
    assert str(info.value).startswith(f"file.txt: line {line}: ")
    assert message in str(info.value)


def test_parse_error_in_a_later_example_has_its_line() -> None:
    text = format_examples([example(), example()]).replace('"allow"', '"maybe"', 2)
    # first answer is on line 6, the second on line 13
    with pytest.raises(PromptError, match=r"^<text>: line 6: decision 'maybe'"):
        parse_examples(text)


# --- the default prompt version ----------------------------------------------------------


def test_default_examples_cover_all_decisions_twice(catalog: PromptCatalog) -> None:
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    assert version.builtin
    assert version.base is None
    assert version.description
    assert len(version.examples) == 8
    decisions = [e.decision for e in version.examples]
    assert sorted(decisions) == sorted(DECISIONS * 2)
    for e in version.examples:
        assert e.classification and e.risk_level and e.reasoning and e.team_context
        assert {"actor", "role", "action", "target"} <= set(e.situation)


def test_default_examples_file_is_in_canonical_format(catalog: PromptCatalog) -> None:
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    text = (version.folder / "examples.txt").read_text(encoding="utf-8")
    assert format_examples(version.examples) == text


def test_default_examples_do_not_leak_the_suite(catalog: PromptCatalog) -> None:
    suite = load_suite()
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    example_prints = {situation_fingerprint(e.situation) for e in version.examples}
    assert not example_prints & suite.fingerprints()
    suite_targets = {s.situation["target"] for s in suite.scenarios}
    assert not {e.situation["target"] for e in version.examples} & suite_targets


def test_default_instructions_name_keys_in_order(catalog: PromptCatalog) -> None:
    instructions = catalog.get(DEFAULT_PROMPT_VERSION).instructions
    positions = [instructions.index(f'"{key}"') for key in prompts.ANSWER_KEYS]
    assert positions == sorted(positions)
    assert "JSON" in instructions


def test_load_policy_default_and_custom(tmp_path: Path) -> None:
    policy = load_policy()
    for word in ("admin", "maintainer", "member", "contractor", "guest", *DECISIONS):
        assert word in policy
    assert 300 <= len(policy.split()) <= 450
    custom = write(tmp_path / "policy.md", "# Mine\n1. deny: everything.\n")
    assert load_policy(custom) == "# Mine\n1. deny: everything.\n"
    assert load_policy(str(custom)).startswith("# Mine")
    with pytest.raises(PromptError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.md")
    with pytest.raises(PromptError, match="is empty"):
        load_policy(write(tmp_path / "empty.md", "  \n"))


# --- build_prompt ------------------------------------------------------------------------


def test_build_prompt_shares_system_and_varies_user(catalog: PromptCatalog) -> None:
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    policy = load_policy()
    suite = load_suite()
    parts = [build_prompt(version, policy, s.situation, s.team_context) for s in suite.scenarios]
    assert all(isinstance(p, PromptParts) for p in parts)
    assert len({p.system for p in parts}) == 1
    assert len({p.user for p in parts}) == len(parts)
    system = parts[0].system
    assert system.startswith(policy.strip())
    assert version.instructions.strip() in system
    for e in version.examples:
        assert format_example(e) in system
    for decision in DECISIONS:
        assert f'"decision": "{decision}"' in system


def test_build_prompt_user_block(catalog: PromptCatalog) -> None:
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    scenario = load_suite().get("E01")
    parts = build_prompt(version, "Policy.", scenario.situation, scenario.team_context)
    assert parts.user.startswith(SITUATION_HEADER + "\nactor: alice\nrole: member\n")
    assert parts.user.endswith(f"team_context: {scenario.team_context}\n{ANSWER_HEADER}\n")
    assert parts.text == parts.system + "\n\n" + parts.user
    assert parts.text.startswith(parts.system)
    # the user block continues the examples' pattern: last answer, blank line, next situation
    assert parts.system.endswith(format_example(version.examples[-1]))
    assert parts.text[len(parts.system) :].startswith("\n\n" + SITUATION_HEADER + "\n")


def test_build_prompt_without_team_context(catalog: PromptCatalog) -> None:
    version = catalog.get(DEFAULT_PROMPT_VERSION)
    parts = build_prompt(version, "Policy.", {"actor": "a"}, None)
    assert parts.user == f"{SITUATION_HEADER}\nactor: a\n{ANSWER_HEADER}\n"


# --- catalog ---------------------------------------------------------------------------


def test_catalog_names_and_versions(catalog: PromptCatalog) -> None:
    shipped = SHIPPED
    assert catalog.names() == shipped
    assert catalog.builtin_names() == shipped
    assert catalog.custom_names() == []
    versions = catalog.versions()
    assert all(isinstance(version, PromptVersion) for version in versions)
    assert [version.name for version in versions] == shipped


def test_catalog_default_custom_dir_uses_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(prompts, "custom_prompts_dir", lambda: tmp_path / "xdg")
    assert PromptCatalog().custom_dir == tmp_path / "xdg"


def test_get_unknown_lists_known(catalog: PromptCatalog) -> None:
    with pytest.raises(UnknownPromptVersion) as info:
        catalog.get("v9_missing")
    assert isinstance(info.value, PromptError)
    assert "'v9_missing'" in str(info.value)
    assert DEFAULT_PROMPT_VERSION in str(info.value)
    assert info.value.known == SHIPPED


def test_create_get_and_list(catalog: PromptCatalog, examples_file: Path) -> None:
    created = catalog.create("v3_corrections", examples_file, description='From "review" \\ 1')
    assert not created.builtin
    assert created.name == "v3_corrections"
    assert created.base == DEFAULT_PROMPT_VERSION
    assert created.description == 'From "review" \\ 1'
    assert created.folder == catalog.custom_dir / "v3_corrections"
    assert [e.decision for e in created.examples] == list(DECISIONS)
    base = catalog.get(DEFAULT_PROMPT_VERSION)
    assert created.instructions == base.instructions
    assert sorted(p.name for p in created.folder.iterdir()) == [
        "examples.txt",
        "instructions.txt",
        "prompt.toml",
    ]
    assert catalog.get("v3_corrections") == created
    assert catalog.names() == [*SHIPPED, "v3_corrections"]
    catalog.create("a_first", examples_file)
    assert catalog.names() == [*SHIPPED, "a_first", "v3_corrections"]
    assert [v.name for v in catalog.versions()] == catalog.names()
    assert not [p for p in catalog.custom_dir.iterdir() if p.name.startswith(".")]


def test_create_default_description(catalog: PromptCatalog, examples_file: Path) -> None:
    created = catalog.create("v3", examples_file)
    assert "4 examples" in created.description
    assert examples_file.name in created.description


def test_create_from_other_custom_base(catalog: PromptCatalog, examples_file: Path) -> None:
    catalog.create("first", examples_file)
    second = catalog.create("second", examples_file, base="first")
    assert second.base == "first"
    with pytest.raises(UnknownPromptVersion):
        catalog.create("third", examples_file, base="nope")
    assert "third" not in catalog.names()


def test_create_refuses_duplicate_unless_overwrite(
    catalog: PromptCatalog, examples_file: Path, tmp_path: Path
) -> None:
    catalog.create("v3", examples_file)
    with pytest.raises(PromptError, match="already exists"):
        catalog.create("v3", examples_file)
    fewer = write(tmp_path / "two.txt", format_examples([example(), example(decision="deny")]))
    replaced = catalog.create("v3", fewer, overwrite=True)
    assert len(replaced.examples) == 2
    assert len(catalog.get("v3").examples) == 2
    assert sorted(p.name for p in catalog.custom_dir.iterdir()) == ["v3"]


def test_create_refuses_builtin_name(catalog: PromptCatalog, examples_file: Path) -> None:
    with pytest.raises(PromptError, match="builtin"):
        catalog.create(DEFAULT_PROMPT_VERSION, examples_file, overwrite=True)


@pytest.mark.parametrize("name", ["", ".hidden", "-dash", "with space", "a/b", "../up", "ü", "x\n"])
def test_create_refuses_bad_names(catalog: PromptCatalog, examples_file: Path, name: str) -> None:
    with pytest.raises(PromptError, match="invalid prompt version name"):
        catalog.create(name, examples_file)
    assert not catalog.custom_dir.exists()


def test_create_refuses_empty_or_bad_examples(catalog: PromptCatalog, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.txt", "\n")
    with pytest.raises(PromptError, match="has no examples"):
        catalog.create("v3", empty)
    bad = write(tmp_path / "bad.txt", "### Situation\nactor: a\n")
    with pytest.raises(PromptError, match=r"bad\.txt: line 1"):
        catalog.create("v3", bad)
    with pytest.raises(PromptError, match="missing"):
        catalog.create("v3", tmp_path / "absent.txt")
    assert catalog.names() == SHIPPED


def test_create_failure_leaves_no_folder(
    catalog: PromptCatalog, examples_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(source: Path, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prompts, "replace_folder", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        catalog.create("v3", examples_file)
    assert list(catalog.custom_dir.iterdir()) == []
    assert catalog.names() == SHIPPED


def test_create_failure_while_writing_leaves_no_folder(
    catalog: PromptCatalog, examples_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Path.write_text
    calls: list[str] = []

    def flaky_write(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        calls.append(self.name)
        if self.name == "examples.txt":
            raise OSError("no space left")
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", flaky_write)
    with pytest.raises(OSError, match="no space left"):
        catalog.create("v3", examples_file)
    assert "examples.txt" in calls
    assert list(catalog.custom_dir.iterdir()) == []


def test_overwrite_failure_keeps_the_old_version(
    catalog: PromptCatalog, examples_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.create("v3", examples_file)
    original_rename = os.rename

    def failing_rename(source: Any, target: Any) -> None:
        if str(source).endswith(".tmp"):  # the new version's staging folder
            raise OSError("rename failed")
        original_rename(source, target)

    monkeypatch.setattr(os, "rename", failing_rename)
    fewer = write(tmp_path / "one.txt", format_examples([example()]))
    with pytest.raises(OSError, match="rename failed"):
        catalog.create("v3", fewer, overwrite=True)
    monkeypatch.undo()
    assert len(catalog.get("v3").examples) == 4
    assert sorted(p.name for p in catalog.custom_dir.iterdir()) == ["v3"]


def test_custom_folder_shadowing_a_builtin_is_ignored(catalog: PromptCatalog) -> None:
    shadow = catalog.custom_dir / DEFAULT_PROMPT_VERSION
    shadow.mkdir(parents=True)
    write(shadow / "prompt.toml", 'description = "fake"\n')
    assert catalog.names() == SHIPPED
    assert catalog.get(DEFAULT_PROMPT_VERSION).builtin


def test_broken_custom_version_reports_the_file(
    catalog: PromptCatalog, examples_file: Path
) -> None:
    version = catalog.create("v3", examples_file)
    write(version.folder / "prompt.toml", "description = \n")
    with pytest.raises(PromptError, match=r"prompt\.toml: not valid TOML"):
        catalog.get("v3")
    write(version.folder / "prompt.toml", "description = 3\n")
    with pytest.raises(PromptError, match="description must be a string"):
        catalog.get("v3")
    write(version.folder / "prompt.toml", 'description = "ok"\n')
    (version.folder / "instructions.txt").unlink()
    with pytest.raises(PromptError, match=r"instructions\.txt: missing"):
        catalog.get("v3")
    write(version.folder / "instructions.txt", " \n")
    with pytest.raises(PromptError, match=r"instructions\.txt: is empty"):
        catalog.get("v3")
    write(version.folder / "instructions.txt", "Answer.\n")
    write(version.folder / "examples.txt", "")
    with pytest.raises(PromptError, match=r"examples\.txt: has no examples"):
        catalog.get("v3")


@pytest.mark.parametrize("text", [*HOSTILE_STRINGS, "\x00\x01\x1f\x7f", "'single' '''triple'''"])
def test_toml_string_round_trip(text: str) -> None:
    assert tomllib.loads(f"value = {toml_string(text)}\n")["value"] == text
