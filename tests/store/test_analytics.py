"""Statistics aggregates on a real SQLite file with a known mix of decisions and reviews."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.analytics import (
    RunAccuracy,
    StatisticsData,
    collect_statistics,
)


def _decision(decision: str, expected: str | None, *, run_id: str | None = None,
              timestamp: str | None = None, reasoning: str = "because") -> PolicyDecision:
    return PolicyDecision(
        situation={"actor": "alice", "action": "read", "target": "docs/readme.md"},
        model_name="phi-4-mini", model_version="Q4_K_M", prompt_version="v2",
        decision=decision, reasoning=reasoning, expected_decision=expected,
        decision_correct=None if expected is None else decision == expected,
        run_id=run_id, timestamp=timestamp,
    )


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def test_empty_database(log: PolicyDecisionLog) -> None:
    data = collect_statistics(log)
    assert isinstance(data, StatisticsData)
    assert data.statistics["total"] == 0
    assert data.accuracy_by_run == []
    assert data.confusion == {}
    assert data.corrections_by_type == {
        "accept": 0, "correct_decision": 0, "correct_reasoning": 0, "correct_both": 0}
    assert data.decision_flips == {}


def test_known_mix(log: PolicyDecisionLog) -> None:
    # An imported run (not in the runs table) logged long ago: 1 of 2 evaluated correct.
    old = [
        _decision("allow", "allow", run_id="run_imported", timestamp="2020-01-01T10:00:00+00:00"),
        _decision("allow", "deny", run_id="run_imported", timestamp="2020-01-01T10:01:00+00:00"),
        _decision("deny", None, run_id="run_imported", timestamp="2020-01-01T10:02:00+00:00"),
    ]
    first = log.start_run(run_id="run_a", model_name="gemma", prompt_version="v1")
    a = [
        _decision("allow", "allow", run_id=first),
        _decision("deny", "deny", run_id=first),
        _decision("require_mfa", "deny", run_id=first),
        _decision("unparseable", "require_attestation", run_id=first),
    ]
    second = log.start_run(run_id="run_b", model_name="gemma", prompt_version="v2")
    b = [_decision("deny", "deny", run_id=second), _decision("allow", "allow", run_id=second)]
    empty_run = log.start_run(run_id="run_c")  # logged nothing: not part of the chart
    loose = [_decision("allow", None), _decision("require_mfa", "require_mfa")]
    log.log_decisions(old + a + b + loose)
    assert empty_run == "run_c"

    # Reviews: the current state counts, undone reviews do not.
    log.mark_reviewed(a[0].decision_id)                                  # accept
    log.mark_reviewed(a[2].decision_id, review_decision="deny")          # require_mfa -> deny
    log.mark_reviewed(a[3].decision_id, review_decision="require_attestation",
                      review_reasoning="Needs a signed attestation.")    # both
    log.mark_reviewed(b[0].decision_id, review_reasoning="Guests may not write.")  # reasoning
    log.mark_reviewed(old[1].decision_id, review_decision="deny")        # allow -> deny
    log.mark_reviewed(loose[0].decision_id, review_decision="deny")
    log.undo_review(loose[0].decision_id)                                # undone: not counted
    log.mark_reviewed(b[1].decision_id, review_decision="allow")         # same as model: accept

    data = collect_statistics(log)

    assert data.accuracy_by_run == [
        RunAccuracy("run_imported", "2020-01-01T10:00:00.000000+00:00", "v2", "phi-4-mini",
                    evaluated=2, correct=1, accuracy=0.5),
        RunAccuracy("run_a", data.accuracy_by_run[1].started, "v1", "gemma",
                    evaluated=4, correct=2, accuracy=0.5),
        RunAccuracy("run_b", data.accuracy_by_run[2].started, "v2", "gemma",
                    evaluated=2, correct=2, accuracy=1.0),
    ]
    assert data.accuracy_by_run[1].started < data.accuracy_by_run[2].started
    assert data.confusion == {
        ("allow", "allow"): 3,
        ("deny", "allow"): 1,
        ("deny", "deny"): 2,
        ("deny", "require_mfa"): 1,
        ("require_attestation", "unparseable"): 1,
        ("require_mfa", "require_mfa"): 1,
    }
    assert sum(data.confusion.values()) == data.statistics["evaluated"] == 9
    assert data.corrections_by_type == {
        "accept": 2, "correct_decision": 2, "correct_reasoning": 1, "correct_both": 1}
    assert data.decision_flips == {
        ("require_mfa", "deny"): 1,
        ("unparseable", "require_attestation"): 1,
        ("allow", "deny"): 1,
    }
    stats = data.statistics
    assert (stats["total"], stats["reviewed"], stats["corrections"]) == (11, 6, 4)
    assert stats["corrections_needed"] == 46


def test_run_without_evaluated_decisions_has_no_accuracy(log: PolicyDecisionLog) -> None:
    run_id = log.start_run()
    log.log_decisions([_decision("allow", None, run_id=run_id)])
    (run,) = collect_statistics(log).accuracy_by_run
    assert (run.evaluated, run.correct, run.accuracy) == (0, 0, None)
