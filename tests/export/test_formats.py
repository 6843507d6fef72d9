"""Record builders, and the exported files as fine-tuning tools read them.

``trl`` is not installed here, so TRL's conversational rules are checked by
:func:`check_conversation` below, written from TRL's ``docs/source/dataset_formats.md``
(and stricter than ``trl.data_utils.is_conversational``, which only looks at the first
message): roles are system/user/assistant, a system turn only comes first, user and
assistant alternate after it starting with user, every content is a non-empty string and
messages have no keys besides role and content, and lines have no keys besides the
format's own. If ``trl`` is importable, its ``is_conversational`` is checked as well.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from export_helpers import Spec, accepted, build_log, corrections, decision, fake_embed

from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    build_prompt,
    format_situation,
    load_policy,
)
from policy_desktop.export.formats import (
    LineEncoder,
    PromptContext,
    Rendered,
    chat_record,
    corrected_answer,
    dpo_record,
    fewshot_candidate,
    fewshot_example,
    json_line,
    original_answer,
    provenance_record,
    seed_record,
)
from policy_desktop.export.options import CHAT_FILE, DPO_FILE, SEED_JSON_FILE, ExportOptions
from policy_desktop.export.training import export_training_data

ROLES = ("system", "user", "assistant")


@pytest.fixture(scope="module")
def context() -> PromptContext:
    return PromptContext.load(DEFAULT_PROMPT_VERSION)


# --- TRL's conversational rules ---------------------------------------------------------


def check_messages(messages: Any, *, ends_with: str, alternate: bool = True) -> None:
    """Assert TRL's rules for one list of messages (see the module docstring)."""
    assert isinstance(messages, list) and messages, "messages must be a non-empty list"
    for message in messages:
        assert isinstance(message, dict)
        assert set(message) == {"role", "content"}, f"extra or missing keys: {set(message)}"
        assert message["role"] in ROLES
        assert isinstance(message["content"], str) and message["content"].strip()
    roles = [m["role"] for m in messages]
    assert "system" not in roles[1:], "a system turn may only come first"
    turns = roles[1:] if roles[0] == "system" else roles
    expected = ["user", "assistant"] * len(turns)
    if alternate:
        assert turns == expected[:len(turns)], f"user/assistant must alternate: {roles}"
    assert roles[-1] == ends_with, f"must end with {ends_with}: {roles}"


def check_chat_line(line: dict[str, Any]) -> None:
    assert set(line) == {"messages"}
    check_messages(line["messages"], ends_with="assistant")
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]


def check_dpo_line(line: dict[str, Any]) -> None:
    assert set(line) == {"prompt", "chosen", "rejected"}
    check_messages(line["prompt"], ends_with="user")
    for key in ("chosen", "rejected"):
        check_messages(line[key], ends_with="assistant", alternate=False)  # a completion
        assert len(line[key]) == 1, "exactly one assistant message per answer"
        check_messages(line["prompt"] + line[key], ends_with="assistant")
    assert line["chosen"] != line["rejected"]


def test_rule_checker_rejects_broken_conversations() -> None:
    good = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                         {"role": "assistant", "content": "a"}]}
    check_chat_line(good)
    broken = [
        {"messages": [{"role": "user", "content": "u"}, {"role": "system", "content": "s"},
                      {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"},
                      {"role": "user", "content": "u"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": ""},
                      {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                      {"role": "assistant", "content": "a", "weight": 1}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                      {"role": "assistant", "content": "a"}], "id": "x"},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
    ]
    for line in broken:
        with pytest.raises(AssertionError):
            check_chat_line(line)


# --- the builders -----------------------------------------------------------------------


def test_corrected_answer_takes_the_humans_decision_and_reasoning() -> None:
    stored = decision(1, Spec(model="allow", human="deny", review_reasoning="Rule 6 denies."))
    answer = json.loads(corrected_answer(stored))
    assert answer == {"decision": "deny", "classification": "routine_read_access",
                      "risk_level": "low", "reasoning": "Rule 6 denies."}
    assert list(answer) == ["decision", "classification", "risk_level", "reasoning"]


def test_reasoning_only_correction_keeps_the_model_decision() -> None:
    stored = decision(2, Spec(model="deny", human="deny", review_reasoning="Better words."))
    assert json.loads(corrected_answer(stored))["decision"] == "deny"
    assert json.loads(corrected_answer(stored))["reasoning"] == "Better words."
    assert json.loads(original_answer(stored) or "")["reasoning"].startswith("Model reasoning")


def test_unparseable_model_answer_is_rejected_verbatim(context: PromptContext) -> None:
    stored = decision(3, Spec(model="unparseable", human="deny", reasoning="",
                              full_response="I think maybe deny?? {broken"))
    assert original_answer(stored) == "I think maybe deny?? {broken"
    record = dpo_record(Rendered.of(stored), context)
    assert record is not None
    assert record["rejected"] == [{"role": "assistant", "content": "I think maybe deny?? {broken"}]
    empty = decision(4, Spec(model="unparseable", human="deny", full_response="  "))
    assert original_answer(empty) is None
    assert dpo_record(Rendered.of(empty), context) is None


def test_chat_record_has_only_messages(context: PromptContext) -> None:
    stored = decision(5, Spec())
    record = chat_record(Rendered.of(stored), context)
    check_chat_line(record)
    system, user, assistant = record["messages"]
    assert system["content"] == context.chat_system
    assert "## Instructions" in system["content"] and "## Examples" not in system["content"]
    assert user["content"] == format_situation(stored.situation, stored.team_context)
    assert assistant["content"] == corrected_answer(stored)


def test_dpo_record_is_trl_preference_format(context: PromptContext) -> None:
    stored = decision(6, Spec(model="allow", human="require_mfa"))
    record = dpo_record(Rendered.of(stored), context)
    assert record is not None
    check_dpo_line(record)
    assert record["prompt"] == chat_record(Rendered.of(stored), context)["messages"][:2]
    assert json.loads(record["chosen"][0]["content"])["decision"] == "require_mfa"
    assert json.loads(record["rejected"][0]["content"])["decision"] == "allow"


def test_seed_record_prompt_equals_build_prompt(context: PromptContext) -> None:
    stored = decision(7, Spec(situation={"actor": "zoë", "note": "line\u2028break"}))
    record = seed_record(Rendered.of(stored), context)
    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    assert record["prompt"] == build_prompt(version, load_policy(), stored.situation,
                                            stored.team_context).text
    assert record["prompt"].endswith("### Answer\n")
    assert record["response"] == corrected_answer(stored)
    assert set(record["metadata"]) == {"decision_id", "model_name", "model_version",
                                       "prompt_version", "change_type", "reviewer"}


def test_fewshot_example_and_candidate_use_the_final_answer() -> None:
    stored = decision(8, Spec(model="allow", human="deny", review_reasoning="Rule 4 denies."))
    example = fewshot_example(stored)
    assert (example.decision, example.reasoning) == ("deny", "Rule 4 denies.")
    assert (example.classification, example.risk_level) == ("routine_read_access", "low")
    candidate = fewshot_candidate(Rendered.of(stored))
    assert candidate.key == stored.decision_id and candidate.decision == "deny"
    assert candidate.text.endswith("\nRule 4 denies.")
    assert candidate.text.startswith(format_situation(stored.situation, stored.team_context))


def test_json_line_is_one_line_even_with_unicode_separators() -> None:
    line = json_line({"text": "a\u2028b\u2029c\x85d\ne", "name": "zoë"})
    assert line.endswith("\n") and len(line.splitlines()) == 1
    assert "zoë" in line
    assert json.loads(line) == {"text": "a\u2028b\u2029c\x85d\ne", "name": "zoë"}


@pytest.mark.parametrize("situation", [
    {"actor": "plain"},
    {"actor": "zoë", "note": "line\u2028break\x85 and \\u0000 and \x00 and \"quotes\""},
])
def test_line_encoder_equals_json_line(context: PromptContext,
                                       situation: dict[str, Any]) -> None:
    encoder = LineEncoder([context.chat_system, context.completion_system])
    item = Rendered.of(decision(11, Spec(situation=situation, model="unparseable",
                                         full_response=context.chat_system + " and more")))
    records = [chat_record(item, context), dpo_record(item, context),
               seed_record(item, context), {"s": context.chat_system},
               {"s": context.completion_system, "n": [1, None, True]}, {"s": ""}]
    for record in records:
        assert encoder.line(record) == json_line(record)
    tricky = LineEncoder(["a\u2028b", "a"])
    for record in ({"x": "a\u2028bc"}, {"x": ["a", "ab", "ba"]}, {"a": "a"}):
        assert tricky.line(record) == json_line(record)


def test_provenance_record_names_the_line() -> None:
    stored = decision(9, Spec(reviewer="erin"))
    assert provenance_record(stored, CHAT_FILE, 3) == {
        "file": CHAT_FILE, "line": 3, "decision_id": stored.decision_id, "reviewer": "erin",
        "change_type": None, "model_name": "gemma-3-270m", "model_version": "Q4_K_M",
        "prompt_version": "v2_fewshot_8examples"}


# --- the files, read by Hugging Face datasets -------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    specs = [*corrections(30), *corrections(10, "require_attestation"),
             *corrections(10, "allow", "deny"), *accepted(5),
             Spec(model="unparseable", human="deny", full_response="not json at all"),
             Spec(model="deny", human="deny", review_reasoning="Only the reasoning changed."),
             Spec(situation={"actor": "zoë", "note": "multi\nline\u2028text", "n": 3})]
    with build_log(root / "decisions.db", specs) as log:
        export_training_data(log, root / "out",
                             ExportOptions(embed=fake_embed, include_accepted=True))
    return root / "out"


def _load(path: Path, cache: Path) -> Any:
    datasets = pytest.importorskip("datasets")
    return datasets.load_dataset("json", data_files=str(path), split="train",
                                 cache_dir=str(cache))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.usefixtures("offline")
def test_chat_file_loads_with_datasets_and_follows_trl_rules(exported: Path,
                                                              tmp_path: Path) -> None:
    dataset = _load(exported / CHAT_FILE, tmp_path / "hf")
    assert dataset.num_rows == 58
    assert dataset.column_names == ["messages"]
    for row in dataset:
        check_chat_line(row)
    raw = [json.loads(line) for line in (exported / CHAT_FILE).read_text("utf-8").splitlines()]
    assert [dict(row) for row in dataset] == raw
    if importlib.util.find_spec("trl") is not None:  # pragma: no cover - not installed here
        from trl.data_utils import is_conversational

        assert all(is_conversational(row) for row in raw)


@pytest.mark.usefixtures("offline")
def test_dpo_file_loads_with_datasets_and_follows_trl_rules(exported: Path,
                                                             tmp_path: Path) -> None:
    dataset = _load(exported / DPO_FILE, tmp_path / "hf")
    assert dataset.num_rows == 53  # corrections only, the unparseable one included
    assert sorted(dataset.column_names) == ["chosen", "prompt", "rejected"]
    for row in dataset:
        check_dpo_line(row)
    rejected = [row["rejected"][0]["content"] for row in dataset]
    assert "not json at all" in rejected
    if importlib.util.find_spec("trl") is not None:  # pragma: no cover - not installed here
        from trl.data_utils import is_conversational

        assert all(is_conversational(dict(row)) for row in dataset)


@pytest.mark.usefixtures("offline")
def test_seed_json_loads_with_datasets(exported: Path, tmp_path: Path) -> None:
    dataset = _load(exported / SEED_JSON_FILE, tmp_path / "hf")
    assert dataset.num_rows == 58
    assert sorted(dataset.column_names) == ["metadata", "prompt", "response"]
    changes = {row["metadata"]["change_type"] for row in dataset}
    assert changes == {"correct_both", "correct_reasoning", "accept"}


def test_exported_lines_are_single_lines_for_every_reader(exported: Path) -> None:
    for name in (CHAT_FILE, DPO_FILE):
        text = (exported / name).read_text(encoding="utf-8")
        assert text.splitlines() == text.split("\n")[:-1]
