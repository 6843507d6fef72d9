"""The shared review queue: exclusive claims, leases, blind second opinions, conflicts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from store_helpers import make_decision

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.errors import ClaimLostError, ReviewedMeanwhileError
from policy_desktop.store.review_queue import ReviewQueue, in_overlap

WORKER = Path(__file__).with_name("team_worker.py")
ROOT = Path(__file__).parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _log_many(log: PolicyDecisionLog, count: int) -> list[str]:
    decisions = [make_decision(i) for i in range(count)]
    log.log_decisions(decisions)
    return [d.decision_id for d in decisions if d.decision_id]


def _history_consistent(log: PolicyDecisionLog, decision_id: str) -> bool:
    stack = []
    for event in log.get_review_history(decision_id):
        if event.action == "undo":
            if stack:
                stack.pop()
        else:
            stack.append(event)
    current = log.get_decision(decision_id)
    assert current is not None
    top = stack[-1] if stack else None
    return (bool(current.reviewed) == (top is not None)
            and current.reviewer == (top.reviewer if top else None)
            and current.review_decision == (top.review_decision if top else None)
            and current.review_action == (top.action if top else None))


def test_two_reviewers_never_get_the_same_decision(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log_many(log, 12)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        ann = queue.claim("ann", 5)
        bob = queue.claim("bob", 5)
        assert len(ann) == len(bob) == 5
        assert not {c.decision_id for c in ann} & {c.decision_id for c in bob}
        # Claiming again renews one's own claims instead of taking more.
        assert {c.decision_id for c in queue.claim("ann", 5)} == {c.decision_id for c in ann}
        assert queue.pending() == {"unreviewed": 12, "second_opinions": 0, "claimed": 10}


def test_a_lapsed_lease_goes_to_another_reviewer_and_the_first_review_is_refused(
        store_location: str) -> None:
    clock = Clock()
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log, lease_seconds=60, clock=clock)
        queue.set_overlap_percent(0)
        [ann] = queue.claim("ann", 1)
        assert queue.claim("bob", 1) == []
        clock.now += 61  # ann left
        [bob] = queue.claim("bob", 1)
        assert bob.decision_id == only
        with pytest.raises(ClaimLostError, match="now claimed by bob"):
            queue.submit(ann, "deny")
        assert log.get_review_history(only) == []
        assert queue.submit(bob, "deny") == "correct_decision"
        assert log.get_decision(only).reviewer == "bob"  # type: ignore[union-attr]


def test_a_lapsed_lease_nobody_took_still_holds(store_location: str) -> None:
    clock = Clock()
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log, lease_seconds=60, clock=clock)
        [ann] = queue.claim("ann", 1)
        clock.now += 600
        queue.submit(ann)
        assert log.get_decision(only).reviewed  # type: ignore[union-attr]


def test_renewal_keeps_a_working_reviewer_s_claims(store_location: str) -> None:
    clock = Clock()
    with PolicyDecisionLog(store_location) as log:
        _log_many(log, 1)
        queue = ReviewQueue(log, lease_seconds=60, clock=clock)
        queue.set_overlap_percent(0)
        queue.claim("ann", 1)
        clock.now += 50
        assert queue.renew("ann") == 1
        clock.now += 50
        assert queue.claim("bob", 1) == []


def test_release_hands_the_claims_back_at_once(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _log_many(log, 2)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        queue.claim("ann", 2)
        assert queue.claim("bob", 2) == []
        assert queue.release("ann") == 2
        assert len(queue.claim("bob", 2)) == 2


def test_a_submitted_claim_cannot_be_submitted_twice(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1)
        queue.submit(claim, "deny")
        with pytest.raises(ClaimLostError):
            queue.submit(claim, "allow")
        assert len(log.get_review_history(only)) == 1


def test_the_overlap_sample_gets_a_blind_second_review_by_someone_else(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        [first] = queue.claim("ann", 1)
        assert not first.second_opinion
        queue.submit(first, "deny", "Ann's reasons.", review_classification="ann_label",
                     review_risk_level="critical")
        assert queue.claim("ann", 1) == []  # never one's own second opinion
        [second] = queue.claim("bob", 1)
        assert second.second_opinion and second.decision_id == only
        # Blind: nothing of Ann's review travels with the claim, her labels included.
        shown = second.decision
        assert (shown.reviewed, shown.review_decision, shown.review_reasoning,
                shown.reviewer) == (0, None, None, None)
        assert (shown.review_classification, shown.review_risk_level) == (None, None)
        queue.submit(second, "allow")
        assert queue.claim("carol", 1) == []  # two reviews are enough
        reviewers = [e.reviewer for e in log.get_review_history(only)]
        assert reviewers == ["ann", "bob"]


def test_an_undone_first_review_puts_the_decision_back(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1)
        queue.submit(claim, "deny")
        log.undo_review(only, "ann")
        [again] = queue.claim("bob", 1)
        assert again.decision_id == only


def test_the_overlap_sample_is_about_the_share_asked_for() -> None:
    ids = [f"dec_2026-01-01T0000_{i:08x}" for i in range(5000)]
    share = sum(in_overlap(i, 10) for i in ids) / len(ids)
    assert 0.08 < share < 0.12
    assert not any(in_overlap(i, 0) for i in ids) and all(in_overlap(i, 100) for i in ids)


def _run_reviewers(location: str, names: list[str]) -> list[dict]:
    processes = [subprocess.Popen(
        [sys.executable, str(WORKER), location, name, str(seed)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed, name in enumerate(names)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize("reviewers", [2, 4])
def test_reviewer_processes_share_one_queue(store_location: str, reviewers: int) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _log_many(log, 120)
        ReviewQueue(log).set_overlap_percent(20)
    results = _run_reviewers(store_location, [f"reviewer{i}" for i in range(reviewers)])
    by_decision: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for result in results:
        for decision_id, slot, _ in result["saved"]:
            by_decision[decision_id].append((result["reviewer"], slot))
    with PolicyDecisionLog(store_location, create=False) as log:
        for decision_id in ids:
            saved = by_decision[decision_id]
            expected_reviews = 2 if in_overlap(decision_id, 20) else 1
            assert len(saved) == expected_reviews, (decision_id, saved)
            assert len({name for name, _ in saved}) == expected_reviews
            history = log.get_review_history(decision_id)
            # No lost review: every review a process saved is in the history, once.
            assert sorted((e.reviewer, e.review_decision) for e in history) == sorted(
                (r["reviewer"], answer) for r in results
                for d, _, answer in r["saved"] if d == decision_id)
            assert _history_consistent(log, decision_id)
        assert log.get_statistics()["unreviewed"] == 0
    assert sum(len(r["saved"]) for r in results) > 120


def test_skipped_decisions_are_passed_over_and_one_claim_can_be_released(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _log_many(log, 3)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [newest] = queue.claim("ann", 1)
        assert newest.decision_id == ids[-1]  # newest first, as the seed reviews
        [other] = queue.claim("ann", 1, skip={newest.decision_id})
        assert other.decision_id != newest.decision_id
        assert queue.release("ann", [newest.decision_id]) == 1
        assert queue.claim("bob", 1)[0].decision_id == newest.decision_id


def test_a_review_made_outside_the_queue_meanwhile_is_a_conflict_not_a_second_review(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1)
        log.mark_reviewed(only, "deny", None, "bob")  # an older client, without a claim
        with pytest.raises(ReviewedMeanwhileError, match="reviewed meanwhile by bob"):
            queue.submit(claim, "allow")
        assert [e.reviewer for e in log.get_review_history(only)] == ["bob"]
        assert queue.pending()["claimed"] == 0  # the claim is closed, not handed out again
        assert queue.claim("ann", 1) == []


def test_submit_passes_the_review_form_s_other_fields_to_the_log(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        [only] = _log_many(log, 1)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1)
        queue.submit(claim, "deny", blind_decision="require_mfa")
        [event] = log.get_review_history(only)
        assert (event.reviewer, event.review_decision, event.blind_decision) == (
            "ann", "deny", "require_mfa")
        # An unknown field is the log's refusal, and the claim stays open.
        [second] = _log_many(log, 1)
        [claim] = queue.claim("ann", 1)
        assert claim.decision_id == second
        with pytest.raises(TypeError):
            queue.submit(claim, "deny", no_such_field="x")
        assert queue.pending()["claimed"] == 1
