"""The statistics leave replay answers out of the production figures and mark replay runs;
the table's filter can name exact decisions and leave replay answers out (either backend)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.analytics import ReplayTally, collect_statistics
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.replay import ReplaySelection, ReplayStore
from policy_desktop.store.replay_tables import has_replay_tables


def _decision(decision: str, expected: str | None, *, run_id: str | None = None,
              model: str = "gemma", tags: list[str] | None = None) -> PolicyDecision:
    return PolicyDecision(
        situation={"actor": "alice", "action": "read", "target": "docs/readme.md"},
        model_name=model, model_version="Q4", prompt_version="v2", decision=decision,
        reasoning="because", expected_decision=expected,
        decision_correct=None if expected is None else decision == expected, run_id=run_id,
        tags=tags or [])


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def _production_and_replay(log: PolicyDecisionLog) -> tuple[list[str], str, list[str]]:
    """A production run of 4 (2 right, one corrected), one loose decision, and a replay
    of the run's 4 by a candidate that answers deny everywhere (one replay answer corrected)."""
    run = log.start_run(run_id="run_prod", model_name="gemma", prompt_version="v2")
    originals = [_decision("allow", "allow", run_id=run), _decision("deny", "deny", run_id=run),
                 _decision("allow", "deny", run_id=run), _decision("require_mfa", None,
                                                                   run_id=run)]
    log.log_decisions([*originals, _decision("deny", None)])  # the last one has no run
    ids = [d.decision_id or "" for d in originals]
    log.mark_reviewed(ids[2], review_decision="deny")
    store = ReplayStore(log)
    replay = store.create(ids, ReplaySelection(), model_name="candidate", prompt_version="v3")
    answers = [store.record(replay, original, _decision("deny", expected, model="candidate",
                                                        tags=["replay"]))
               for original, expected in zip(ids, ("allow", "deny", "deny", None), strict=True)]
    log.mark_reviewed(answers[0], review_decision="allow")
    return ids, replay, answers


def test_replay_answers_are_counted_apart(log: PolicyDecisionLog) -> None:
    _, replay, _ = _production_and_replay(log)
    data = collect_statistics(log)
    stats = data.statistics
    assert (stats["total"], stats["reviewed"], stats["unreviewed"]) == (5, 1, 4)
    assert (stats["evaluated"], stats["correct"], stats["accuracy"]) == (3, 2, 2 / 3)
    assert stats["corrections"] == 1
    assert stats["decision_distribution"] == {"allow": 2, "deny": 2, "require_mfa": 1}
    assert stats["gate_corrections"] == 2  # the export's gate counts every correction
    assert stats["corrections_needed"] == 48
    assert data.replays == ReplayTally(runs=1, answers=4, reviewed=1, corrections=1)
    assert data.confusion == {("allow", "allow"): 1, ("deny", "deny"): 1, ("deny", "allow"): 1}
    assert data.corrections_by_type == {"accept": 0, "correct_decision": 1,
                                        "correct_reasoning": 0, "correct_both": 0}
    assert data.decision_flips == {("allow", "deny"): 1}
    marks = {run.run_id: run.replay for run in data.accuracy_by_run}
    assert marks == {"run_prod": False, replay: True}
    replay_run = next(run for run in data.accuracy_by_run if run.replay)
    assert (replay_run.evaluated, replay_run.correct) == (3, 2)


def test_a_log_without_replays_counts_everything(log: PolicyDecisionLog) -> None:
    run = log.start_run()
    log.log_decisions([_decision("allow", "allow", run_id=run), _decision("deny", None)])
    data = collect_statistics(log)
    assert data.statistics["total"] == 2
    assert data.replays == ReplayTally()
    assert [run.replay for run in data.accuracy_by_run] == [False]
    assert not has_replay_tables(log.database)  # reading created nothing


@pytest.mark.sqlite_file
def test_read_only_log_without_replay_tables(db_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run as root, whom permissions do not stop: the permission check answers
    "not writable" (as in test_failures), and the file opens read-only."""
    from policy_desktop.store import database as database_module

    with PolicyDecisionLog(db_path) as log:
        log.log_decisions([_decision("allow", "allow")])
    before = db_path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(database_module.os, "access", lambda p, mode: False if Path(
        p).resolve() in (db_path.resolve(), db_path.parent.resolve()) else real_access(p, mode))
    with PolicyDecisionLog(db_path) as log:
        assert log.read_only
        data = collect_statistics(log)
        rows, _ = DecisionQueries(log).page(DecisionFilter(view="all", exclude_replays=True))
        assert not has_replay_tables(log.database)
    assert data.statistics["total"] == 1 and len(rows) == 1
    assert db_path.read_bytes() == before


def test_filter_by_exact_ids(log: PolicyDecisionLog) -> None:
    ids, _, answers = _production_and_replay(log)
    queries = DecisionQueries(log)
    chosen = (ids[0], answers[2], "no-such-id")
    flt = DecisionFilter(view="all", decision_ids=chosen)
    rows, cursor = queries.page(flt)
    assert {row.decision_id for row in rows} == {ids[0], answers[2]} and cursor is None
    assert queries.count(flt) == 2
    assert queries.count(DecisionFilter(view="all", decision_ids=())) == 0
    assert queries.count(DecisionFilter(view="unreviewed", decision_ids=(ids[2], answers[2]))) == 1
    counts = queries.view_counts(DecisionFilter(decision_ids=(ids[2], answers[0], answers[1])))
    assert (counts["all"], counts["reviewed"], counts["corrections"]) == (3, 2, 2)
    listed = DecisionFilter(view="all", decision_ids=[ids[1]])  # type: ignore[arg-type]
    assert listed.decision_ids == (ids[1],) and hash(listed)


def test_filter_by_many_ids_pages(log: PolicyDecisionLog) -> None:
    batch = [_decision("allow", None) for _ in range(1500)]
    log.log_decisions(batch)
    wanted = tuple(d.decision_id or "" for d in batch[::1][:1200])  # above 999 variables
    flt = DecisionFilter(view="all", decision_ids=wanted)
    queries = DecisionQueries(log)
    seen: list[str] = []
    cursor = None
    while True:
        rows, cursor = queries.page(flt, after=cursor, limit=500)
        seen += [row.decision_id for row in rows]
        if cursor is None:
            break
    assert sorted(seen) == sorted(wanted) and queries.count(flt) == 1200


def test_filter_leaves_replay_answers_out(log: PolicyDecisionLog) -> None:
    ids, _, answers = _production_and_replay(log)
    queries = DecisionQueries(log)
    every = {row.decision_id for row in queries.page(DecisionFilter(view="all"))[0]}
    production = {row.decision_id for row in queries.page(
        DecisionFilter(view="all", exclude_replays=True))[0]}
    assert set(answers) <= every and not set(answers) & production
    assert set(ids) <= production and len(production) == 5  # the run-less decision stays
    # A bar of the statistics = the table it opens.
    stats = collect_statistics(log).statistics
    for decision, count in stats["decision_distribution"].items():
        assert queries.count(DecisionFilter(view="all", decision=decision,
                                            exclude_replays=True)) == count
    assert queries.count(DecisionFilter(view="all", review_action="correct_decision",
                                        exclude_replays=True)) == 1
    with pytest.raises(ValueError, match="review action"):
        DecisionFilter(review_action="approve")


@pytest.mark.parametrize("command", [["stats"], ["review", "--stats"]])
def test_the_statistics_command_leaves_replay_answers_out(
        log: PolicyDecisionLog, store_location: str, command: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    _production_and_replay(log)
    assert main([*command, "--db", store_location]) == 0
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    for text in ("Total decisions: 5", "Reviewed: 1", "Unreviewed: 4", "Corrections: 1",
                 "Replay answers: 4 in 1 replay run (1 reviewed), left out of the figures above"):
        assert text in lines
    assert any(line.split() == ["deny", "2", "(40.0%)"] for line in lines)  # not 6
    # the gate counts every correction, the replay answer's too (as the export does)
    assert lines[-1] == "Training readiness: 2 corrections; 48 more needed"
