"""The training set: the export's gate and exclusions, the review in effect, the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_helpers import log_model_answer, reviewed_log

from policy_desktop.engine.prompts import (
    ANSWER_HEADER,
    ANSWER_PRIMER,
    PromptCatalog,
    build_system,
    load_policy,
)
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export.options import CHAT_FILE, ExportOptions
from policy_desktop.export.training import export_training_data
from policy_desktop.finetune.dataset import (
    TUNED_PROMPT_VERSION,
    TrainingDataError,
    TrainingExample,
    TrainingSet,
    build_training_set,
    load_export,
)
from policy_desktop.store import PolicyDecision
from policy_desktop.store.errors import TrainingGateError
from policy_desktop.vocabulary import DECISIONS


def test_below_the_gate_nothing_is_built(db_path: Path) -> None:
    log, _ = reviewed_log(db_path, 49)
    with pytest.raises(TrainingGateError):
        build_training_set(log)
    log_model_answer(log, 999, "allow")
    decision_id = log.log_decision(PolicyDecision(
        situation={"actor": "x", "action": "read"}, model_name="m", model_version="q",
        prompt_version="p", decision="allow"))
    log.mark_reviewed(decision_id, review_decision="deny", review_reasoning="Rule 4.",
                      reviewer="eve")
    data = build_training_set(log)
    assert len(data) == 50
    assert data.provenance()["reviewers"] == {"dana": 49, "eve": 1}


def test_examples_carry_the_corrected_answer_in_the_short_prompt(db_path: Path) -> None:
    log, ids = reviewed_log(db_path, 50)
    data = build_training_set(log)
    assert data.prompt_version == TUNED_PROMPT_VERSION
    assert "## Rules" not in data.system and "### Situation" not in data.system
    version = PromptCatalog().get(TUNED_PROMPT_VERSION)
    assert data.system == build_system(version, "")
    by_id = {e.decision_id: e for e in data.examples}
    assert set(by_id) == set(ids)
    first = by_id[ids[0]]
    stored = log.get_decision(ids[0])
    assert stored is not None
    assert first.decision == stored.review_decision
    assert first.answer.startswith(ANSWER_PRIMER + stored.review_decision)
    assert json.loads(first.answer)["reasoning"] == stored.review_reasoning
    prompt = first.prompt(data.system)
    assert prompt.startswith(data.system + "\n\n### Situation\nactor: user0000\n")
    assert prompt.endswith(f"team_context: Team 0.\n{ANSWER_HEADER}\n")


def test_suite_situations_are_left_out(db_path: Path) -> None:
    log, _ = reviewed_log(db_path, 50)
    scenario = load_suite().scenarios[0]
    decision_id = log.log_decision(PolicyDecision(
        situation=scenario.situation, model_name="m", model_version="q", prompt_version="p",
        decision="allow"))
    log.mark_reviewed(decision_id, review_decision="deny", review_reasoning="Rule 1.")
    data = build_training_set(log)
    assert decision_id not in {e.decision_id for e in data.examples}
    assert len(data) == 50


def test_the_review_in_effect_decides_and_disagreement_is_recorded(db_path: Path) -> None:
    log, ids = reviewed_log(db_path, 50)
    log.mark_reviewed(ids[0], review_decision="require_mfa", review_reasoning="Rule 7.",
                      reviewer="erin")
    log.mark_reviewed(ids[1], review_decision="require_mfa", review_reasoning="Rule 7.",
                      reviewer="erin")
    log.undo_review(ids[1], reviewer="erin")
    data = build_training_set(log)
    by_id = {e.decision_id: e for e in data.examples}
    assert by_id[ids[0]].decision == "require_mfa"
    assert by_id[ids[0]].reviewer == "erin"
    assert (by_id[ids[0]].reviews, by_id[ids[0]].disagreement) == (2, True)
    first_review = log.get_review_history(ids[1])[0].review_decision
    assert by_id[ids[1]].decision == first_review
    assert (by_id[ids[1]].reviews, by_id[ids[1]].disagreement) == (1, False)
    assert data.provenance()["disagreements_resolved_by_last_review"] == 1


def test_accepted_decisions_only_when_asked(db_path: Path) -> None:
    log, _ = reviewed_log(db_path, 50)
    accepted = log_model_answer(log, 500, "deny")
    log.mark_reviewed(accepted, reviewer="dana")
    assert accepted not in {e.decision_id for e in build_training_set(log).examples}
    data = build_training_set(log, include_accepted=True)
    example = next(e for e in data.examples if e.decision_id == accepted)
    assert (example.decision, example.change_type) == ("deny", "accept")


def test_an_existing_export_folder_gives_the_same_set(db_path: Path, tmp_path: Path) -> None:
    log, _ = reviewed_log(db_path, 50)
    export_training_data(log, tmp_path / "export", ExportOptions(formats={"chat_jsonl", "dpo"}))
    from_folder = load_export(tmp_path / "export")
    built = build_training_set(log)
    assert from_folder.sha256 == built.sha256
    assert from_folder.export_manifest["files"][CHAT_FILE]["records"] == 50


def test_a_broken_export_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"manifest\.json: missing"):
        load_export(tmp_path)
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / CHAT_FILE).write_text('{"messages": []}\n', encoding="utf-8")
    (tmp_path / "provenance.jsonl").write_text(
        json.dumps({"file": CHAT_FILE, "line": 1, "decision_id": "d1"}) + "\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"finetuning_chat.jsonl:1: not a chat line"):
        load_export(tmp_path)


def _set(labels: list[str]) -> TrainingSet:
    examples = tuple(
        TrainingExample(decision_id=f"d{i:03d}", situation=f"actor: a{i}",
                        answer=json.dumps({"decision": label}), decision=label)
        for i, label in enumerate(labels))
    return TrainingSet(examples=examples, system="S", prompt_version=TUNED_PROMPT_VERSION)


def test_split_is_stratified_disjoint_and_deterministic() -> None:
    labels = ["allow"] * 40 + ["deny"] * 30 + ["require_attestation"] * 20 + ["require_mfa"] * 2
    data = _set(labels)
    train, validation = data.split(0.2, seed=3)
    assert validation.per_decision() == {"allow": 8, "deny": 6, "require_attestation": 4,
                                         "require_mfa": 1}
    assert len(train) + len(validation) == len(data)
    assert not {e.decision_id for e in train.examples} & {
        e.decision_id for e in validation.examples}
    assert data.split(0.2, seed=3) == (train, validation)
    assert data.split(0.2, seed=4)[1] != validation


def test_a_lone_example_of_a_decision_stays_in_training() -> None:
    train, validation = _set(["allow"] * 10 + ["require_mfa"]).split(0.2)
    assert validation.per_decision()["require_mfa"] == 0
    assert train.per_decision()["require_mfa"] == 1


def test_the_data_hash_follows_the_content() -> None:
    a, b = _set(list(DECISIONS)), _set(list(DECISIONS))
    assert a.sha256 == b.sha256
    changed = TrainingSet(examples=(*a.examples[:-1], TrainingExample(
        decision_id="d003", situation="actor: a3", answer='{"decision": "deny"}',
        decision="deny")), system="S", prompt_version=TUNED_PROMPT_VERSION)
    assert changed.sha256 != a.sha256


def test_the_short_prompt_version_has_no_policy_and_no_examples() -> None:
    version = PromptCatalog().get(TUNED_PROMPT_VERSION)
    assert (version.include_policy, version.examples) == (False, ())
    policy = load_policy()
    assert policy.strip() not in build_system(version, policy)
    default = PromptCatalog().get("v2_fewshot_8examples")
    assert build_system(default, policy).startswith(policy.strip() + "\n\n## Instructions\n")
    assert "## Examples\n\n### Situation" in build_system(default, policy)
