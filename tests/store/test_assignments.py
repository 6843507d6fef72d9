"""Assigned queues: delegation of a filter, "my queue", the unassigned pool, withdrawal."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from store_helpers import make_decision, timestamp

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.assignments import (
    Assignments,
    QueueCounts,
    describe_filter,
    filter_from_json,
    filter_to_json,
)
from policy_desktop.store.errors import ClaimLostError, StoreError
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.review_queue import MINE, UNASSIGNED, ReviewQueue, in_overlap

WORKER = Path(__file__).with_name("team_worker.py")
ROOT = Path(__file__).parents[2]


def _log(log: PolicyDecisionLog, count: int) -> dict[str, str]:
    """``count`` decisions, one a minute; id -> the model's decision (cycling the four)."""
    decisions = [make_decision(i, timestamp=timestamp(i)) for i in range(count)]
    log.log_decisions(decisions)
    return {d.decision_id: d.decision for d in decisions if d.decision_id}


def _queue(log: PolicyDecisionLog) -> ReviewQueue:
    queue = ReviewQueue(log)
    queue.set_overlap_percent(0)
    return queue


def test_a_delegated_filter_selects_what_the_table_shows(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decisions = _log(log, 20)
        flt = DecisionFilter(decision="deny")
        result = Assignments(log).assign("ann", flt, by="lead")
        shown, _ = DecisionQueries(log).page(flt, limit=100)
        assert result.assigned == len(shown) == 5
        assert set(Assignments(log).my_queue("ann")) == {s.decision_id for s in shown}
        assert {d for d, kind in decisions.items() if kind == "deny"} == set(
            Assignments(log).my_queue("ann"))
        assert result.assignment.reviewer == "ann" and result.assignment.assigned_by == "lead"
        assert result.assignment.filter == flt
        assert Assignments(log).counts("ann") == QueueCounts(mine=5, unassigned=15, others=0)
        assert Assignments(log).counts("bob") == QueueCounts(mine=0, unassigned=15, others=5)
        # Newest first, as the table and the queue list them.
        queue = Assignments(log).my_queue("ann")
        assert queue == sorted(queue, key=lambda d: log.get_decision(d).timestamp, reverse=True)


def test_my_queue_comes_first_and_another_s_queue_is_never_handed_out(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decisions = _log(log, 12)
        assignments = Assignments(log)
        assignments.assign("ann", DecisionFilter(decision="deny"), by="lead")
        assignments.assign("bob", DecisionFilter(decision="allow"), by="lead")
        queue = _queue(log)
        ann = queue.claim("ann", 5)
        # Ann's three deny decisions first, then the unassigned pool (never Bob's allows).
        kinds = [decisions[c.decision_id] for c in ann]
        assert sorted(kinds[:3]) == ["deny"] * 3 or kinds.count("deny") == 3
        assert "allow" not in kinds
        carl = queue.claim("carl", 20)
        assert {decisions[c.decision_id] for c in carl} <= {"require_mfa",
                                                            "require_attestation"}
        assert not {c.decision_id for c in carl} & {c.decision_id for c in ann}
        # Bob's queue waits for Bob, whoever else asks.
        assert queue.claim("dora", 20, pool=UNASSIGNED) == []
        assert queue.claim("dora", 20) == []
        bob = queue.claim("bob", 20, pool=MINE)
        assert sorted(decisions[c.decision_id] for c in bob) == ["allow"] * 3


def test_the_mine_pool_gives_only_assigned_decisions_and_unassigned_only_the_pool(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decisions = _log(log, 8)
        Assignments(log).assign("ann", DecisionFilter(decision="deny"), by="lead")
        queue = _queue(log)
        mine = queue.claim("ann", 10, pool=MINE)
        assert [decisions[c.decision_id] for c in mine] == ["deny", "deny"]
        pool = queue.claim("ann", 10, pool=UNASSIGNED)
        assert len(pool) == 6 and "deny" not in {decisions[c.decision_id] for c in pool}
        # Renewed claims come back only in their own pool.
        assert {c.decision_id for c in queue.claim("ann", 10, pool=MINE)} == {
            c.decision_id for c in mine}


def test_an_assignment_withdraws_another_reviewer_s_unfinished_claim(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log(log, 4)
        queue = _queue(log)
        bob = queue.claim("bob", 4)
        target = next(c for c in bob if c.decision.decision == "deny")
        result = Assignments(log).assign("ann", DecisionFilter(decision="deny"), by="lead")
        assert result.claims_withdrawn == 1
        with pytest.raises(ClaimLostError):
            queue.submit(target, "allow")
        assert not log.get_decision(target.decision_id).reviewed
        # Bob's other claims stand; Ann gets the assigned one.
        others = [c for c in bob if c is not target]
        for claim in others:
            queue.submit(claim)
        [ann] = queue.claim("ann", 4)
        assert ann.decision_id == target.decision_id
        queue.submit(ann, "deny")
        assert log.get_decision(target.decision_id).reviewer == "ann"


def test_withdrawing_an_assignment_puts_its_decisions_back_in_the_pool(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log(log, 8)
        assignments = Assignments(log)
        made = assignments.assign("ann", DecisionFilter(decision="deny"), by="lead").assignment
        queue = _queue(log)
        assert queue.claim("bob", 10, pool=UNASSIGNED) != []
        queue.release("bob")
        [claim] = queue.claim("ann", 1, pool=MINE)
        queue.submit(claim)
        assert assignments.unassign(made.id[:8]) == 1  # one still unreviewed went back
        assert assignments.assignments() == []
        [withdrawn] = assignments.assignments(include_withdrawn=True)
        assert withdrawn.withdrawn is not None and not withdrawn.active
        assert assignments.counts("ann") == QueueCounts(mine=0, unassigned=7, others=0)
        assert len(queue.claim("bob", 10)) == 7


def test_a_decision_stays_in_the_first_queue_it_was_assigned_to(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log(log, 8)
        assignments = Assignments(log)
        assignments.assign("ann", DecisionFilter(decision="deny"), by="lead")
        result = assignments.assign("bob", DecisionFilter(view="unreviewed"), by="lead")
        assert result.assigned == 6 and result.held_by_others == {"ann": 2}
        again = assignments.assign("ann", DecisionFilter(decision="deny"), by="lead")
        assert again.assigned == 0 and again.held_by_others == {"ann": 2}
        listed = assignments.assignments()
        assert [(a.reviewer, a.decisions) for a in listed] == [("ann", 2), ("ann", 0),
                                                              ("bob", 6)]
        assert assignments.unassign(reviewer="ann") == 2
        assert assignments.counts("bob") == QueueCounts(mine=6, unassigned=2, others=0)


def test_assignment_progress_limit_and_reviewed_decisions(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = list(_log(log, 10))
        log.mark_reviewed(ids[0], None, None, "zed")  # reviewed before: never assigned
        assignments = Assignments(log)
        result = assignments.assign("ann", DecisionFilter(view="all"), by="lead", limit=4)
        assert result.assigned == 4
        newest = sorted(ids[1:], key=lambda d: log.get_decision(d).timestamp)[-4:]
        assert set(assignments.my_queue("ann")) == set(newest)
        queue = _queue(log)
        for claim in queue.claim("ann", 2, pool=MINE):
            queue.submit(claim)
        [made] = assignments.assignments()
        assert (made.decisions, made.reviewed, made.open) == (4, 2, 2)
        # An undone review goes back to the assignee's queue.
        log.undo_review(newest[-1], "ann")
        assert newest[-1] in assignments.my_queue("ann")


def test_assignment_arguments_are_checked(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log(log, 2)
        assignments = Assignments(log)
        with pytest.raises(StoreError, match="reviewer"):
            assignments.assign(" ", DecisionFilter(), by="lead")
        with pytest.raises(StoreError, match="who assigns"):
            assignments.assign("ann", DecisionFilter(), by="")
        with pytest.raises(StoreError, match="limit"):
            assignments.assign("ann", DecisionFilter(), by="lead", limit=0)
        with pytest.raises(StoreError, match="no active assignment"):
            assignments.unassign("feedface")
        with pytest.raises(StoreError, match="either"):
            assignments.unassign()
        with pytest.raises(StoreError, match="unknown pool"):
            ReviewQueue(log).claim("ann", pool="everything")


def test_filters_round_trip_and_describe_themselves() -> None:
    flt = DecisionFilter(view="incorrect", decision="deny", run_id="r1", text="prod")
    assert filter_from_json(filter_to_json(flt)) == flt
    assert describe_filter(flt) == "view=incorrect, text=prod, decision=deny, run_id=r1"
    assert describe_filter(DecisionFilter()) == "all unreviewed decisions"
    assert "pass_coverage=0.8" in describe_filter(DecisionFilter(view="failures",
                                                                 pass_coverage=0.8))


def test_a_log_without_team_tables_has_no_assignments(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log(log, 3)
        assignments = Assignments(log)
        assert assignments.assignments() == []
        assert assignments.my_queue("ann") == []
        assert assignments.assignees([]) == {}
        assert assignments.counts("ann") == QueueCounts(0, 3, 0)


# --- reviewer processes ---------------------------------------------------------------------


def _start(location: str, names: list[str]) -> list[subprocess.Popen[str]]:
    return [subprocess.Popen(
        [sys.executable, str(WORKER), location, name, str(seed), "next"], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed, name in enumerate(names)]


def _results(processes: list[subprocess.Popen[str]]) -> list[dict]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize("reviewers", [2, 4])
def test_reviewer_processes_keep_to_their_queues(store_location: str, reviewers: int) -> None:
    """Two queues assigned before, one delegated while everyone works: no decision of
    one reviewer's queue is handed to another, none reviewed twice outside the overlap
    sample, no review lost."""
    names = [f"reviewer{i}" for i in range(reviewers)]
    with PolicyDecisionLog(store_location) as log:
        # The oldest 40 come last (newest first): still there when the lead delegates them.
        items = [make_decision(i, timestamp=timestamp(i), run_id="late" if i < 40 else None)
                 for i in range(160)]
        log.log_decisions(items)
        decisions = {d.decision_id: d.decision for d in items if d.decision_id}
        ReviewQueue(log).set_overlap_percent(20)
        assignments = Assignments(log)
        assignments.assign(names[0], DecisionFilter(decision="deny"), by="lead")
        assignments.assign(names[1], DecisionFilter(decision="allow"), by="lead")
    processes = _start(store_location, names)
    with PolicyDecisionLog(store_location, create=False) as log:
        deadline = time.monotonic() + 60
        while log.get_statistics()["reviewed"] < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        late = Assignments(log).assign(names[-1], DecisionFilter(run_id="late"), by="lead")
    results = _results(processes)
    with PolicyDecisionLog(store_location, create=False) as log:
        owner = Assignments(log).assignees(decisions)
        assert late.assigned > 0 and set(owner.values()) == {names[0], names[1], names[-1]}
        handed_after: dict[str, list[str]] = defaultdict(list)
        by_decision: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for result in results:
            for decision_id, slot, _ in result["saved"]:
                by_decision[decision_id].append((result["reviewer"], slot))
            for decision_id, slot in result["handed"]:
                if slot == 0:
                    handed_after[decision_id].append(result["reviewer"])
        for decision_id in decisions:
            saved = by_decision[decision_id]
            expected = 2 if in_overlap(decision_id, 20) else 1
            assert len(saved) == expected, (decision_id, saved)
            assert len({name for name, _ in saved}) == expected
            first = [name for name, slot in saved if slot == 0]
            if decision_id in owner:  # assigned: the first review is the assignee's
                assert first == [owner[decision_id]], (decision_id, saved)
            history = log.get_review_history(decision_id)
            assert sorted((e.reviewer, e.review_decision) for e in history) == sorted(
                (r["reviewer"], answer) for r in results
                for d, _, answer in r["saved"] if d == decision_id)
        # The queues assigned before the start were never handed to anyone else at all.
        for decision_id, kind in decisions.items():
            if kind in ("deny", "allow") and owner[decision_id] in names[:2]:
                assert set(handed_after[decision_id]) == {owner[decision_id]}
        assert log.get_statistics()["unreviewed"] == 0


def test_a_team_database_from_before_assignments_gets_their_tables(store_location: str) -> None:
    from policy_desktop.store.team_tables import ASSIGNMENT_TABLES, TEAM_TABLES

    with PolicyDecisionLog(store_location) as log:
        ids = list(_log(log, 4))
        with log.write_transaction():  # the first team release's tables only
            for statement in TEAM_TABLES:
                if not any(name in statement for name in ASSIGNMENT_TABLES):
                    log.database.execute_sql(statement)
        assert not set(ASSIGNMENT_TABLES) & set(log.database.get_tables())
        queue = _queue(log)  # opening the queue adds them
        assert set(ASSIGNMENT_TABLES) <= set(log.database.get_tables())
        assert len(queue.claim("ann", 10)) == 4
        result = Assignments(log).assign("bob", DecisionFilter(), by="lead")
        assert (result.assigned, result.claims_withdrawn) == (4, 4)
        assert queue.claim("ann", 10) == []
        assert set(ids) == {c.decision_id for c in queue.claim("bob", 10)}
