"""Training data never pairs a corrected decision with the model's own labels.

The model called a routine docs write ``destructive_admin_action``/``high`` and denied it;
the reviewer corrected it to ``allow``. Unless the reviewer gives (or re-confirms) labels,
the human side of every file has ``null`` there; the reviewer's labels when given; the
DPO ``rejected`` answer is the model's answer as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from export_helpers import Spec, build_log, fake_embed

from policy_desktop.engine.prompts import parse_examples
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    PROVENANCE_FILE,
    REPORT_FILE,
    SEED_JSON_FILE,
    ExportOptions,
)
from policy_desktop.export.training import ExportResult, export_training_data
from policy_desktop.store import PolicyDecisionLog

MODEL = ("destructive_admin_action", "high")
Labels = tuple[str | None, str | None]


def _id(index: int) -> str:
    return f"dec_2026-02-02T0805_{index:08x}"


# index -> (how it is reviewed again after import, the labels training data must carry)
RELABELLED = 50  # reviewer's own labels
CONFIRMED = 51  # the model's labels chosen again in the form
RISK_ONLY = 52  # the reviewer set the risk level only
REASONING_ONLY = 53  # the decision stands: so do the model's labels
EXPECTED: dict[int, Labels] = {
    RELABELLED: ("routine_docs_write", "low"),
    CONFIRMED: MODEL,
    RISK_ONLY: (None, "medium"),
    REASONING_ONLY: MODEL,
}


@pytest.fixture
def exported(tmp_path: Path) -> tuple[ExportResult, Path, dict[str, Labels]]:
    specs = [Spec(model="deny", human="allow", classification=MODEL[0], risk_level=MODEL[1])
             for _ in range(54)]
    with build_log(tmp_path / "decisions.db", specs) as log:
        reason = "Docs writes by members are routine."
        log.mark_reviewed(_id(RELABELLED), "allow", reason, "dana",
                          review_classification="routine_docs_write", review_risk_level="low")
        log.mark_reviewed(_id(CONFIRMED), "allow", reason, "dana",
                          review_classification=MODEL[0], review_risk_level=MODEL[1])
        log.mark_reviewed(_id(RISK_ONLY), "allow", reason, "dana", review_risk_level="medium")
        log.mark_reviewed(_id(REASONING_ONLY), "deny", "Denied: the page is locked.", "dana")
        assert log.get_decision(_id(REASONING_ONLY)).review_action == (  # type: ignore[union-attr]
            "correct_reasoning")
        out = tmp_path / "out"
        result = export_training_data(log, out, ExportOptions(embed=fake_embed,
                                                              fewshot_count=60))
    expected = {_id(i): EXPECTED.get(i, (None, None)) for i in range(54)}
    return result, out, expected


def _lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _labels(answer_text: str) -> Labels:
    answer = json.loads(answer_text)
    assert list(answer) == ["decision", "classification", "risk_level", "reasoning"]
    return answer["classification"], answer["risk_level"]


def _ids_of(out: Path, file: str) -> list[str]:
    return [row["decision_id"] for row in _lines(out / PROVENANCE_FILE) if row["file"] == file]


def test_chat_and_seed_answers_carry_the_final_labels(
        exported: tuple[ExportResult, Path, dict[str, Labels]]) -> None:
    _, out, expected = exported
    chat = _lines(out / CHAT_FILE)
    ids = _ids_of(out, CHAT_FILE)
    assert len(chat) == len(ids) == 54
    for record, decision_id in zip(chat, ids, strict=True):
        assistant = record["messages"][-1]
        assert assistant["role"] == "assistant"
        assert _labels(assistant["content"]) == expected[decision_id], decision_id
    seed = json.loads((out / SEED_JSON_FILE).read_text(encoding="utf-8"))
    for entry in seed:
        assert _labels(entry["response"]) == expected[entry["metadata"]["decision_id"]]
    unconfirmed = [i for i, labels in expected.items() if labels == (None, None)]
    assert len(unconfirmed) == 50


def test_dpo_chosen_has_the_final_labels_and_rejected_the_model_s(
        exported: tuple[ExportResult, Path, dict[str, Labels]]) -> None:
    _, out, expected = exported
    pairs = _lines(out / DPO_FILE)
    ids = _ids_of(out, DPO_FILE)
    assert len(pairs) == len(ids) == 54
    for pair, decision_id in zip(pairs, ids, strict=True):
        assert _labels(pair["chosen"][0]["content"]) == expected[decision_id]
        rejected = json.loads(pair["rejected"][0]["content"])
        assert (rejected["decision"], rejected["classification"], rejected["risk_level"]) == (
            "deny", *MODEL)


def test_fewshot_examples_carry_the_final_labels(
        exported: tuple[ExportResult, Path, dict[str, Labels]]) -> None:
    result, out, expected = exported
    parsed = parse_examples((out / FEWSHOT_FILE).read_text(encoding="utf-8"))
    assert len(parsed) == len(result.preview.fewshot_ids) > 8
    chosen = dict(zip(result.preview.fewshot_ids, parsed, strict=True))
    for decision_id, example in chosen.items():
        assert (example.classification, example.risk_level) == expected[decision_id]
    assert {_id(RELABELLED), _id(CONFIRMED)} <= set(chosen)


def test_the_report_counts_what_reviewers_did_with_the_labels(
        exported: tuple[ExportResult, Path, dict[str, Labels]]) -> None:
    _, out, _ = exported
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["review_labels"] == {
        "decision_corrections": 53,
        "classification_given": 2, "risk_level_given": 3,
        "classification_left_out": 51, "risk_level_left_out": 50,
    }


def test_the_finetuning_dataset_reads_the_final_labels(
        exported: tuple[ExportResult, Path, dict[str, Labels]]) -> None:
    from policy_desktop.finetune.dataset import load_export

    _, out, expected = exported
    data = load_export(out)
    assert len(data.examples) == 54
    for example in data.examples:
        assert example.answer.startswith('{"decision": "')
        assert _labels(example.answer) == expected[example.decision_id]
    text = "\n".join(example.answer for example in data.examples
                     if expected[example.decision_id] == (None, None))
    assert MODEL[0] not in text and '"high"' not in text


def test_no_file_pairs_an_unconfirmed_correction_with_the_model_s_labels(
        tmp_path: Path) -> None:
    """The regression of issue 12, item 10, on every human-side text at once."""
    specs = [Spec(model="deny", human="allow", classification=MODEL[0], risk_level=MODEL[1])
             for _ in range(50)]
    with build_log(tmp_path / "decisions.db", specs) as log:
        out = tmp_path / "out"
        export_training_data(log, out, ExportOptions(embed=fake_embed))
    seed = json.loads((out / SEED_JSON_FILE).read_text(encoding="utf-8"))
    human_side = [  # the seed's prompts hold the shipped examples, which use the label
        (out / FEWSHOT_FILE).read_text(encoding="utf-8"),
        *(entry["response"] for entry in seed),
        *(record["messages"][-1]["content"] for record in _lines(out / CHAT_FILE)),
        *(pair["chosen"][0]["content"] for pair in _lines(out / DPO_FILE)),
    ]
    assert len(human_side) == 151
    for text in human_side:
        assert MODEL[0] not in text
        assert '"risk_level": "high"' not in text
    rejected = json.dumps([pair["rejected"] for pair in _lines(out / DPO_FILE)])
    assert rejected.count(MODEL[0]) == 50


def test_an_unreviewed_decision_keeps_the_model_s_labels(tmp_path: Path) -> None:
    with PolicyDecisionLog(tmp_path / "decisions.db") as log:
        from export_helpers import decision

        log.import_decisions([decision(0, Spec(reviewed=False, classification=MODEL[0],
                                               risk_level=MODEL[1]))])
        stored = log.get_decision(_id(0))
        assert stored is not None
        assert (stored.final_classification, stored.final_risk_level) == MODEL
