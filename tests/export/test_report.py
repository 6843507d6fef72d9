"""``analysis_report.json``: distributions, change patterns, flips, rates, quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_helpers import Spec, accepted, build_log, corrections, fake_embed

from policy_desktop.export.options import REPORT_FILE, ExportOptions
from policy_desktop.export.report import CorrectionAnalysis
from policy_desktop.export.training import export_training_data
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.review_tallies import ReviewCount, count_accepted, review_counts


def known_specs() -> list[Spec]:
    """29 corrections with known flips, 6 accepts and 3 unreviewed decisions."""
    return [
        *corrections(10, "deny"),                                   # allow -> deny, both
        *[Spec(human="deny", review_reasoning=None) for _ in range(2)],  # decision only
        *corrections(3, "require_mfa"),
        *corrections(2, "require_attestation"),
        *corrections(4, "allow", "deny"),
        *corrections(1, "deny", "require_mfa"),
        *[Spec(model="unparseable", human="deny", full_response="??") for _ in range(2)],
        *[Spec(model="deny", human="deny", review_reasoning=f"Clearer {i}.") for i in range(5)],
        *accepted(6),
        *[Spec(reviewed=False) for _ in range(3)],
    ]


@pytest.fixture
def known_log(tmp_path: Path) -> PolicyDecisionLog:
    with build_log(tmp_path / "decisions.db", known_specs()) as log:
        yield log


@pytest.fixture
def analysis(known_log: PolicyDecisionLog) -> CorrectionAnalysis:
    result = CorrectionAnalysis()
    for stored in known_log.iter_corrections(include_accepted=True):
        result.add(stored)  # accepted decisions must be ignored
    return result


def test_flip_matrix_counts_model_to_human(analysis: CorrectionAnalysis) -> None:
    assert analysis.flip_matrix() == {
        "allow": {"deny": 12, "require_mfa": 3, "require_attestation": 2},
        "deny": {"allow": 4},
        "require_mfa": {"deny": 1},
        "unparseable": {"deny": 2},
    }
    assert list(analysis.flip_matrix()["allow"]) == ["deny", "require_mfa",
                                                     "require_attestation"]


def test_totals_patterns_and_distributions(analysis: CorrectionAnalysis) -> None:
    report = analysis.to_dict(by_model=[], by_prompt=[], quality={}, exported={})
    assert report["total_corrections"] == 29
    assert report["change_patterns"] == {"decision_only": 2, "reasoning_only": 5, "both": 22}
    assert report["decision_distribution"] == {"deny": 20, "require_mfa": 3,
                                               "allow": 4, "require_attestation": 2}
    assert list(report["decision_distribution"]) == ["deny", "allow", "require_mfa",
                                                     "require_attestation"]
    assert report["model_decision_distribution"] == {"allow": 17, "deny": 9,
                                                     "unparseable": 2, "require_mfa": 1}
    assert report["classification_distribution"] == {"routine_read_access": 29}
    assert report["risk_level_distribution"] == {"low": 29}


def test_dangerous_flip_share(analysis: CorrectionAnalysis) -> None:
    dangerous = analysis.to_dict(by_model=[], by_prompt=[], quality={},
                                 exported={})["dangerous_flips"]
    assert dangerous["count"] == 17  # allow -> deny 12, require_mfa 3, require_attestation 2
    assert dangerous["share_of_corrections"] == round(17 / 29, 4)
    assert dangerous["share_of_decision_changes"] == round(17 / 24, 4)


def test_no_corrections_gives_empty_shares() -> None:
    report = CorrectionAnalysis().to_dict(by_model=[], by_prompt=[], quality={}, exported={})
    assert report["total_corrections"] == 0
    assert report["decision_flips"] == {}
    assert report["dangerous_flips"]["share_of_corrections"] is None


def test_missing_classification_and_risk_are_counted_as_none(tmp_path: Path) -> None:
    specs = [Spec(classification=None, risk_level=None), Spec()]
    with build_log(tmp_path / "decisions.db", specs) as log:
        analysis = CorrectionAnalysis()
        for stored in log.iter_corrections():
            analysis.add(stored)
    report = analysis.to_dict(by_model=[], by_prompt=[], quality={}, exported={})
    assert report["classification_distribution"] == {"none": 1, "routine_read_access": 1}
    assert report["risk_level_distribution"] == {"low": 1, "none": 1}


def test_empty_reasonings_are_a_quality_metric(tmp_path: Path) -> None:
    specs = [Spec(reasoning="", review_reasoning=None),
             Spec(reasoning="  ", review_reasoning=None), Spec()]
    with build_log(tmp_path / "decisions.db", specs) as log:
        analysis = CorrectionAnalysis()
        for stored in log.iter_corrections():
            analysis.add(stored)
    assert analysis.empty_reasonings == 2


# --- correction rates -------------------------------------------------------------------


def rate_specs() -> list[Spec]:
    gemma = {"model_name": "gemma", "model_version": "Q4_K_M"}
    phi = {"model_name": "phi", "model_version": "Q8_0"}
    return [
        *[Spec(**gemma, prompt_version="v1") for _ in range(6)],                 # corrections
        *[Spec(**gemma, prompt_version="v2", human=None) for _ in range(4)],     # accepts
        *[Spec(**gemma, prompt_version="v2", reviewed=False) for _ in range(9)],  # unreviewed
        *[Spec(**phi, prompt_version="v2") for _ in range(1)],
        *[Spec(**phi, prompt_version="v2", human=None) for _ in range(3)],
    ]


def test_review_counts_per_model_and_prompt(tmp_path: Path) -> None:
    with build_log(tmp_path / "decisions.db", rate_specs()) as log:
        by_model = review_counts(log, "model")
        by_prompt = review_counts(log, "prompt_version")
        assert count_accepted(log) == 7
        with pytest.raises(ValueError, match="unknown grouping"):
            review_counts(log, "reviewer")
    assert by_model == [
        ReviewCount({"model_name": "gemma", "model_version": "Q4_K_M"}, 10, 6),
        ReviewCount({"model_name": "phi", "model_version": "Q8_0"}, 4, 1),
    ]
    assert by_prompt == [ReviewCount({"prompt_version": "v1"}, 6, 6),
                         ReviewCount({"prompt_version": "v2"}, 8, 1)]


def test_report_file_has_the_correction_rates(tmp_path: Path) -> None:
    specs = [*rate_specs(), *corrections(50)]  # default model/prompt for the gate's 50
    with build_log(tmp_path / "decisions.db", specs) as log:
        export_training_data(log, tmp_path / "out", ExportOptions(embed=fake_embed))
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8"))
    rates = report["correction_rates"]
    assert rates["by_model"] == [
        {"model_name": "gemma", "model_version": "Q4_K_M", "reviewed": 10, "corrections": 6,
         "correction_rate": 0.6},
        {"model_name": "gemma-3-270m", "model_version": "Q4_K_M", "reviewed": 50,
         "corrections": 50, "correction_rate": 1.0},
        {"model_name": "phi", "model_version": "Q8_0", "reviewed": 4, "corrections": 1,
         "correction_rate": 0.25},
    ]
    assert rates["by_prompt_version"] == [
        {"prompt_version": "v1", "reviewed": 6, "corrections": 6, "correction_rate": 1.0},
        {"prompt_version": "v2", "reviewed": 8, "corrections": 1, "correction_rate": 0.125},
        {"prompt_version": "v2_fewshot_8examples", "reviewed": 50, "corrections": 50,
         "correction_rate": 1.0},
    ]
    assert report["total_corrections"] == 57
    assert report["exported"]["finetuning_chat.jsonl"] == 57
    assert set(report["quality"]) >= {"near_duplicates_skipped", "empty_reasonings",
                                      "suite_examples_excluded"}


def test_full_report_of_a_known_database(tmp_path: Path) -> None:
    specs = [*known_specs(), *corrections(21, "require_attestation")]
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export_training_data(log, tmp_path / "out", ExportOptions(embed=fake_embed))
    report = result.report
    assert report == json.loads((tmp_path / "out" / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["total_corrections"] == 50
    assert report["decision_flips"]["allow"] == {"require_attestation": 23, "deny": 12,
                                                 "require_mfa": 3}
    assert report["dangerous_flips"]["count"] == 38
    assert report["dangerous_flips"]["share_of_corrections"] == 0.76
