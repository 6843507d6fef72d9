"""Two runs side by side, scenario by scenario (e.g. an old and a new prompt version)."""

from __future__ import annotations

from dataclasses import dataclass

from policy_desktop.store.decision import PolicyDecision
from policy_desktop.store.errors import StoreError
from policy_desktop.store.log import PolicyDecisionLog, RunRecord


@dataclass(frozen=True)
class ScenarioOutcome:
    """What one run answered for one scenario."""

    decision: str
    correct: bool | None
    coverage: float | None
    confidence: float | None
    decision_id: str

    @classmethod
    def of(cls, decision: PolicyDecision) -> ScenarioOutcome:
        assert decision.decision_id is not None
        return cls(decision.decision, decision.decision_correct, decision.reasoning_coverage,
                   decision.confidence, decision.decision_id)


@dataclass(frozen=True)
class ComparedScenario:
    """One scenario in both runs; either side is None when that run did not have it."""

    scenario_id: str
    expected: str | None
    a: ScenarioOutcome | None
    b: ScenarioOutcome | None

    @property
    def change(self) -> str:
        """``fixed``, ``regressed``, ``changed``, ``same``, ``only in A`` or ``only in B``."""
        if self.a is None:
            return "only in B"
        if self.b is None:
            return "only in A"
        if self.a.correct is False and self.b.correct is True:
            return "fixed"
        if self.a.correct is True and self.b.correct is False:
            return "regressed"
        return "same" if self.a.decision == self.b.decision else "changed"


@dataclass(frozen=True)
class RunTotals:
    """Accuracy, mean coverage and count of one run's scenarios."""

    scenarios: int
    correct: int
    judged: int
    mean_coverage: float | None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.judged if self.judged else None


@dataclass(frozen=True)
class RunComparison:
    """Both runs, the per-scenario rows (in suite order) and the totals."""

    run_a: RunRecord
    run_b: RunRecord
    rows: list[ComparedScenario]
    totals_a: RunTotals
    totals_b: RunTotals


def _by_scenario(decisions: list[PolicyDecision]) -> dict[str, PolicyDecision]:
    latest: dict[str, PolicyDecision] = {}
    for decision in decisions:  # oldest first, so a repeated scenario keeps its last answer
        latest[decision.scenario_id or decision.decision_id or "?"] = decision
    return latest


def _totals(decisions: list[PolicyDecision]) -> RunTotals:
    judged = [d.decision_correct for d in decisions if d.decision_correct is not None]
    coverages = [d.reasoning_coverage for d in decisions if d.reasoning_coverage is not None]
    return RunTotals(len(decisions), sum(judged), len(judged),
                     sum(coverages) / len(coverages) if coverages else None)


def compare_runs(log: PolicyDecisionLog, run_a: str, run_b: str) -> RunComparison:
    """Compare two runs given by id (a unique prefix is enough)."""
    records = []
    for run_id in (run_a, run_b):
        record = log.get_run(run_id)
        if record is None:
            raise StoreError(f"no run with id {run_id!r} in {log.display_name}")
        records.append(record)
    a = _by_scenario(log.run_decisions(records[0].run_id))
    b = _by_scenario(log.run_decisions(records[1].run_id))
    order = list(records[0].scenario_ids) + [s for s in records[1].scenario_ids]
    order += list(a) + list(b)
    seen: list[str] = []
    for scenario_id in order:
        if scenario_id not in seen and (scenario_id in a or scenario_id in b):
            seen.append(scenario_id)
    rows = [ComparedScenario(
        scenario_id=scenario_id,
        expected=(a.get(scenario_id) or b[scenario_id]).expected_decision,
        a=ScenarioOutcome.of(a[scenario_id]) if scenario_id in a else None,
        b=ScenarioOutcome.of(b[scenario_id]) if scenario_id in b else None,
    ) for scenario_id in seen]
    return RunComparison(records[0], records[1], rows, _totals(list(a.values())),
                         _totals(list(b.values())))
