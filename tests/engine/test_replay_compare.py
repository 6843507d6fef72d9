"""Compare understands replay runs: with their originals, with another replay, with a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.engine.prompts import PromptCatalog, load_policy
from policy_desktop.engine.replay import Candidate, continue_replay, plan_replay
from policy_desktop.store import PolicyDecisionLog, StoreError
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.replay import ReplaySelection
from policy_desktop.store.run_comparison import ORIGINALS, compare_runs
from tests.replay_helpers import CANDIDATE_RULES, SCRIPT, ScriptedModel, logged_set

EVERYTHING = ReplaySelection(DecisionFilter(view="all"))


def replay(log: PolicyDecisionLog, model: ScriptedModel,
           selection: ReplaySelection = EVERYTHING) -> str:
    candidate = Candidate(model, PromptCatalog().get("v3_tuned_short"), load_policy())
    run_id, _ = plan_replay(log, selection, candidate)
    continue_replay(log, run_id, candidate)
    return run_id


@pytest.fixture
def log(db_path: Path):
    with PolicyDecisionLog(db_path) as opened:
        yield opened


def test_replay_against_its_originals_judged_by_the_humans(log) -> None:
    ids = logged_set(log)
    run_id = replay(log, ScriptedModel())
    comparison = compare_runs(log, ORIGINALS, run_id)
    rows = {row.scenario_id: row for row in comparison.rows}
    assert set(rows) == set(ids.values())  # keyed by the original decision
    cat, dan, bob, fay = (rows[ids[a]] for a in ("cat", "dan", "bob", "fay"))
    assert cat.change == "fixed" and cat.expected == "allow"  # human allowed what was denied
    assert dan.change == "regressed"
    assert bob.change == "regressed" and bob.b is not None and bob.b.decision == "allow"
    assert fay.expected is None and fay.change == "changed"  # unreviewed: nothing to judge
    # Same figures as the replay report: 6 reviewed, original 4 right, candidate 3.
    assert (comparison.totals_a.correct, comparison.totals_a.judged) == (4, 6)
    assert (comparison.totals_b.correct, comparison.totals_b.judged) == (3, 6)
    assert comparison.run_a.run_id == f"originals of {run_id}"


def test_two_replays_of_the_same_originals(log) -> None:
    logged_set(log)
    first = replay(log, ScriptedModel())
    second = replay(log, ScriptedModel(rules={**CANDIDATE_RULES, "Actor: bob": "deny"},
                                       name="second"))
    comparison = compare_runs(log, first, second)
    changes = [row.change for row in comparison.rows]
    assert len(changes) == len(SCRIPT)
    assert changes.count("fixed") == 1 and changes.count("same") == 7


def test_replay_of_an_ordinary_run_matches_its_decisions(log) -> None:
    ids = logged_set(log)
    run_id = log.start_run(model_name="gemma-original", prompt_version="v2")
    from policy_desktop.store import PolicyDecision

    decision_id = log.log_decision(PolicyDecision(
        situation={"actor": "bob", "role": "guest", "action": "read", "target": "x"},
        model_name="gemma-original", model_version="Q4", prompt_version="v2",
        decision="deny", expected_decision="deny", decision_correct=True, run_id=run_id,
        scenario_id="E02"))
    log.finish_run(run_id, "completed", {})
    replayed = replay(log, ScriptedModel(), ReplaySelection(DecisionFilter(view="all",
                                                                           run_id=run_id)))
    comparison = compare_runs(log, run_id, replayed)
    [row] = comparison.rows
    assert row.scenario_id == "E02" and row.change == "regressed"
    assert row.a is not None and row.a.decision_id == decision_id
    assert decision_id not in ids.values()


def test_originals_of_an_ordinary_run_are_refused(log) -> None:
    run_id = log.start_run(model_name="m", prompt_version="p")
    with pytest.raises(StoreError, match="not a replay"):
        compare_runs(log, ORIGINALS, run_id)


def test_compare_command_with_originals(db_path, log, capsys) -> None:
    ids = logged_set(log)
    run_id = replay(log, ScriptedModel())
    assert main(["compare", "--db", str(db_path), run_id, "originals"]) == 0
    out = capsys.readouterr().out
    assert f"A: originals of {run_id}" in out
    line = next(line for line in out.splitlines() if line.startswith(ids["cat"]))
    assert line.rstrip().endswith("fixed")
    assert "Fixed 2, regressed 3" in out
