"""Two runs side by side, scenario by scenario (e.g. an old and a new prompt version).

Replay runs are compared decision by decision instead: a replay with the originals it
replays (``run_a = ORIGINALS``), two replays of the same originals, or a replay with the
ordinary run whose decisions it replayed. Rows are then keyed by the original decision,
and "correct" means "agrees with the human final decision" where there is one (else the
stored expected decision), as in the replay report.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy_desktop.store.decision import PolicyDecision
from policy_desktop.store.errors import StoreError
from policy_desktop.store.log import PolicyDecisionLog, RunRecord
from policy_desktop.store.replay import ReplayStore
from policy_desktop.store.team import ReviewTeam

ORIGINALS = "originals"
"""As run A: the decisions that the replay run B re-decided, as they were logged."""


@dataclass(frozen=True)
class ScenarioOutcome:
    """What one run answered for one scenario."""

    decision: str
    correct: bool | None
    coverage: float | None
    confidence: float | None
    decision_id: str

    @classmethod
    def of(cls, decision: PolicyDecision, human: str | None = None) -> ScenarioOutcome:
        """``decision``'s outcome; judged against ``human`` when given."""
        assert decision.decision_id is not None
        correct = decision.decision_correct if human is None else decision.decision == human
        return cls(decision.decision, correct, decision.reasoning_coverage,
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
    """Compare two runs given by id (a unique prefix is enough); ``run_a`` may be
    :data:`ORIGINALS` when ``run_b`` is a replay run."""
    replays = ReplayStore(log)
    record_b = _record(log, run_b)
    if run_a == ORIGINALS:
        if not replays.is_replay(record_b.run_id):
            raise StoreError(f"run {record_b.run_id} is not a replay: it has no originals "
                             "to compare with")
        return _compare_by_original(log, replays, _originals_record(record_b), record_b)
    record_a = _record(log, run_a)
    if replays.is_replay(record_a.run_id) or replays.is_replay(record_b.run_id):
        return _compare_by_original(log, replays, record_a, record_b)
    a = _by_scenario(log.run_decisions(record_a.run_id))
    b = _by_scenario(log.run_decisions(record_b.run_id))
    order = list(record_a.scenario_ids) + [s for s in record_b.scenario_ids]
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
    return RunComparison(record_a, record_b, rows, _totals(list(a.values())),
                         _totals(list(b.values())))


def _record(log: PolicyDecisionLog, run_id: str) -> RunRecord:
    record = log.get_run(run_id)
    if record is None:
        raise StoreError(f"no run with id {run_id!r} in {log.display_name}")
    return record


def _originals_record(replay: RunRecord) -> RunRecord:
    """A stand-in run record for "the originals of ``replay``"."""
    return RunRecord(run_id=f"{ORIGINALS} of {replay.run_id}", started=replay.started,
                     finished=None, status="as logged", model_name="as logged",
                     model_version="", model_path=None, prompt_version="as logged",
                     scenario_file=None, scenario_ids=[], settings={}, summary={}, error=None)


def _keyed(log: PolicyDecisionLog, replays: ReplayStore, record: RunRecord
           ) -> tuple[dict[str, PolicyDecision], dict[str, PolicyDecision]]:
    """The run's decisions by original decision id, and those originals by id."""
    if record.run_id.startswith(f"{ORIGINALS} of "):
        pairs = list(replays.pairs(record.run_id.removeprefix(f"{ORIGINALS} of ")))
        originals = {o.decision_id or "": o for o, _ in pairs}
        return originals, originals
    if replays.is_replay(record.run_id):
        pairs = list(replays.pairs(record.run_id))
        return ({o.decision_id or "": a for o, a in pairs},
                {o.decision_id or "": o for o, _ in pairs})
    own = {d.decision_id or "": d for d in log.run_decisions(record.run_id)}
    return own, own


def _compare_by_original(log: PolicyDecisionLog, replays: ReplayStore, record_a: RunRecord,
                         record_b: RunRecord) -> RunComparison:
    a, originals_a = _keyed(log, replays, record_a)
    b, originals_b = _keyed(log, replays, record_b)
    originals = {**originals_b, **originals_a}
    keys = list(a) + [key for key in b if key not in a]
    humans = ReviewTeam(log).final_human_decisions(keys)
    rows = []
    for key in keys:
        original = originals[key]
        human = humans.get(key)
        rows.append(ComparedScenario(
            scenario_id=original.scenario_id or key, expected=human or original.expected_decision,
            a=ScenarioOutcome.of(a[key], human) if key in a else None,
            b=ScenarioOutcome.of(b[key], human) if key in b else None))
    return RunComparison(record_a, record_b, rows,
                         _judged_totals([r.a for r in rows if r.a is not None]),
                         _judged_totals([r.b for r in rows if r.b is not None]))


def _judged_totals(outcomes: list[ScenarioOutcome]) -> RunTotals:
    judged = [o.correct for o in outcomes if o.correct is not None]
    coverages = [o.coverage for o in outcomes if o.coverage is not None]
    return RunTotals(len(outcomes), sum(judged), len(judged),
                     sum(coverages) / len(coverages) if coverages else None)
