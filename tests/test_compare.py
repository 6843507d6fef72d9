"""Comparing two runs: per-scenario changes and totals, in the store and the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecision, PolicyDecisionLog, StoreError
from policy_desktop.store.run_comparison import compare_runs

EXPECTED = {"E01": "allow", "E02": "deny", "M01": "require_attestation", "M02": "deny"}


def _run(log: PolicyDecisionLog, prompt: str, answers: dict[str, tuple[str, float]]) -> str:
    run_id = log.start_run(model_name="Gemma", model_version="Q4_K_M", prompt_version=prompt,
                           scenario_ids=list(answers))
    log.log_decisions(PolicyDecision(
        situation={"actor": "a", "scenario": scenario_id}, model_name="Gemma",
        model_version="Q4_K_M", prompt_version=prompt, decision=decision,
        expected_decision=EXPECTED[scenario_id],
        decision_correct=decision == EXPECTED[scenario_id], reasoning_coverage=coverage,
        scenario_id=scenario_id, run_id=run_id) for scenario_id, (decision, coverage)
        in answers.items())
    log.finish_run(run_id, "completed", {})
    return run_id


@pytest.fixture
def two_runs(db_path: Path) -> tuple[PolicyDecisionLog, str, str]:
    log = PolicyDecisionLog(db_path)
    old = _run(log, "v2", {"E01": ("allow", 0.5), "E02": ("allow", 0.0),
                           "M01": ("require_attestation", 1.0), "M02": ("deny", 0.5)})
    new = _run(log, "v3", {"E01": ("allow", 1.0), "E02": ("deny", 0.5),
                           "M01": ("require_mfa", 0.5)})
    return log, old, new


def test_rows_show_fixes_regressions_and_missing_scenarios(
        two_runs: tuple[PolicyDecisionLog, str, str]) -> None:
    log, old, new = two_runs
    comparison = compare_runs(log, old, new)
    changes = {row.scenario_id: row.change for row in comparison.rows}
    assert changes == {"E01": "same", "E02": "fixed", "M01": "regressed", "M02": "only in A"}
    assert [row.scenario_id for row in comparison.rows] == ["E01", "E02", "M01", "M02"]
    e02 = comparison.rows[1]
    assert e02.a is not None and e02.b is not None
    assert (e02.a.decision, e02.b.decision) == ("allow", "deny")
    assert comparison.totals_a.accuracy == pytest.approx(3 / 4)
    assert comparison.totals_b.accuracy == pytest.approx(2 / 3)
    assert comparison.totals_a.mean_coverage == pytest.approx(0.5)
    assert comparison.totals_b.mean_coverage == pytest.approx(2 / 3)
    assert comparison.run_b.prompt_version == "v3"


def test_unknown_run_is_an_error(two_runs: tuple[PolicyDecisionLog, str, str]) -> None:
    log, old, _ = two_runs
    with pytest.raises(StoreError, match="run_nope"):
        compare_runs(log, old, "run_nope")


def test_terminal_compare(two_runs: tuple[PolicyDecisionLog, str, str], db_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    _, old, new = two_runs
    assert main(["compare", old, new, "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert old in out and new in out
    assert "fixed" in out and "regressed" in out and "only in A" in out
    assert "Fixed 1, regressed 1" in out
    assert main(["compare", old, "run_missing", "--db", str(db_path)]) == 1
    assert "run_missing" in capsys.readouterr().err
