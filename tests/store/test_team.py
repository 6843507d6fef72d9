"""The review team: agreement on the overlap sample, adjudication, per-reviewer figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from store_helpers import make_decision

from policy_desktop.store import PolicyDecisionLog, StoreError
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.store.team import ReviewTeam

A, D = "allow", "deny"
ANN = {0: A, 1: D, 2: D, 3: A}
BOB = {0: A, 1: D, 2: A, 3: A}
# Units (ann, bob): (A,A) (D,D) (D,A) (A,A): p_o = 3/4; ann A2 D2, bob A3 D1:
# p_e = (2·3 + 2·1)/16 = 1/2, κ = (3/4 - 1/2)/(1/2) = 1/2.
# α: o_AA = 4, o_DD = 2, o_AD = o_DA = 1; n_A = 5, n_D = 3, n = 8: α = 1 - 7·2/30 = 8/15.


def _two_reviewers(log: PolicyDecisionLog) -> list[str]:
    """Four decisions (the model says allow, deny, require_mfa, require_attestation), all in
    the overlap sample, answered by ann and then blind by bob."""
    decisions = [make_decision(i) for i in range(4)]
    log.log_decisions(decisions)
    ids = [d.decision_id for d in decisions if d.decision_id]
    queue = ReviewQueue(log)
    queue.set_overlap_percent(100)
    for name, answers in (("ann", ANN), ("bob", BOB)):
        for claim in queue.claim(name, 10):
            queue.submit(claim, answers[ids.index(claim.decision_id)])
    queue.claim("carol", 1)  # joined, reviewed nothing yet
    return ids


def test_agreement_of_two_reviewers(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _two_reviewers(log)
        report = ReviewTeam(log).agreement()
    assert report.reviewers == ["ann", "bob"]
    assert report.overall.units == 4 and report.overall.observed == 0.75
    assert report.overall.kappa == pytest.approx(0.5)
    assert report.overall.alpha == pytest.approx(8 / 15)
    assert report.pairs[("ann", "bob")].kappa == pytest.approx(0.5)
    # By the model's decision: one unit each; "allow" has one category only.
    assert sorted(report.by_type) == ["allow", "deny", "require_attestation", "require_mfa"]
    assert report.by_type["allow"].kappa is None and report.by_type["allow"].observed == 1.0
    assert report.by_type["require_mfa"].observed == 0.0
    # Over time: all four pairs were completed this month.
    [(month, this_month)] = report.by_month.items()
    assert month == datetime.now(UTC).strftime("%Y-%m") and this_month == report.overall


def test_disagreements_are_adjudicated_and_the_adjudication_is_final(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _two_reviewers(log)
        team = ReviewTeam(log)
        assert [d.decision_id for d in team.disagreements()] == [ids[2]]
        assert team.answers_of(ids[2]) == {"ann": D, "bob": A}
        assert team.final_human_decisions(ids) == {ids[0]: A, ids[1]: D, ids[2]: None,
                                                    ids[3]: A}
        team.adjudicate(ids[2], "dana", "require_mfa")
        assert team.disagreements() == []
        assert team.final_human_decision(ids[2]) == "require_mfa"
        # The reviewers' own answers stay in the history, untouched.
        assert [e.review_decision for e in log.get_review_history(ids[2])] == [D, A]
        assert team.agreement().overall.observed == 0.75


def test_a_later_adjudication_replaces_an_earlier_one(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _two_reviewers(log)
        team = ReviewTeam(log)
        team.adjudicate(ids[2], "dana", "require_mfa")
        team.adjudicate(ids[2], "erin", "deny")
        assert team.final_human_decision(ids[2]) == "deny"


def test_final_decision_outside_the_overlap_sample_is_the_review(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decisions = [make_decision(i) for i in range(2)]
        log.log_decisions(decisions)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        [claim] = queue.claim("ann", 1)
        queue.submit(claim, "require_mfa")
        team = ReviewTeam(log)
        final = team.final_human_decisions([d.decision_id or "" for d in decisions])
        reviewed, other = claim.decision_id, next(
            d.decision_id for d in decisions if d.decision_id != claim.decision_id)
        assert final == {reviewed: "require_mfa", other: None}
        assert team.agreement().overall.units == 0 and team.agreement().overall.kappa is None


def test_reviewer_figures_are_alphabetical_with_corrections_and_agreement(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        _two_reviewers(log)
        log.mark_reviewed(log.get_all_decisions(1)[0].decision_id or "", "deny", None, "Zoë")
        figures = {f.name: f for f in ReviewTeam(log).reviewer_figures()}
        names = [f.name for f in ReviewTeam(log).reviewer_figures()]
    assert names == ["ann", "bob", "carol", "Zoë"]
    ann, bob, carol = figures["ann"], figures["bob"], figures["carol"]
    # Model: allow, deny, require_mfa, require_attestation; ann corrects the last two.
    assert (ann.reviews, ann.corrections, ann.shared, ann.agreement) == (4, 2, 4, 0.75)
    assert (bob.reviews, bob.corrections, bob.shared, bob.agreement) == (4, 2, 4, 0.75)
    assert (carol.reviews, carol.shared, carol.agreement, carol.median_seconds) == (
        0, 0, None, None)
    assert ann.median_seconds is not None and ann.median_seconds < 60
    # Zoë reviewed an overlap decision after both, seeing their answers: not blind, so
    # not part of the agreement.
    assert (figures["Zoë"].reviews, figures["Zoë"].shared) == (1, 0)


def test_an_undone_review_no_longer_counts(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _two_reviewers(log)
        log.undo_review(ids[2], "bob")
        team = ReviewTeam(log)
        assert team.answers_of(ids[2]) == {"ann": D}
        assert team.agreement().overall.units == 3
        assert {f.name: f.reviews for f in team.reviewer_figures()}["bob"] == 3


def test_reviewers_can_be_listed_before_they_review(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        team = ReviewTeam(log)
        assert team.reviewers() == []
        team.add_reviewer("Émile")
        team.add_reviewer("dana")
        team.add_reviewer("dana")
        assert team.reviewers() == ["dana", "Émile"]
        with pytest.raises(StoreError):
            team.add_reviewer("  ")


def test_training_data_sees_the_adjudicated_answer_and_not_an_open_disagreement(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _two_reviewers(log)
        team = ReviewTeam(log)
        # Corrections by the columns (bob's later answers): ids 2 and 3.
        assert {d.decision_id for d in log.iter_corrections()} == {ids[2], ids[3]}
        # ids[2] is split (ann deny, bob allow): left out until adjudicated.
        assert [d.decision_id for d in team.resolved(log.iter_corrections())] == [ids[3]]
        team.adjudicate(ids[2], "dana", "require_mfa")  # = the model's own decision
        resolved = {d.decision_id: d for d in team.resolved(log.iter_corrections())}
        assert resolved[ids[2]].review_decision == "require_mfa"
        assert resolved[ids[2]].review_action == "accept"
        assert resolved[ids[3]] == log.get_decision(ids[3])
        team.adjudicate(ids[2], "dana", "deny")
        [again] = [d for d in team.resolved(log.iter_corrections()) if d.decision_id == ids[2]]
        assert (again.review_decision, again.review_action) == ("deny", "correct_decision")


def test_an_adjudicated_decision_does_not_carry_labels_chosen_for_another_answer(
        store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        ids = _two_reviewers(log)
        # bob's latest review of ids[2] (allow) came with his labels for "allow".
        log.mark_reviewed(ids[2], "allow", None, "bob", review_classification="routine_read",
                          review_risk_level="low")
        team = ReviewTeam(log)
        team.adjudicate(ids[2], "dana", "deny")
        [resolved] = [d for d in team.resolved(log.iter_corrections())
                      if d.decision_id == ids[2]]
        assert resolved.review_decision == "deny"
        assert (resolved.review_classification, resolved.review_risk_level) == (None, None)
        assert (resolved.final_classification, resolved.final_risk_level) == (None, None)
        team.adjudicate(ids[2], "dana", "allow")  # the answer the labels were chosen for
        [kept] = [d for d in team.resolved(log.iter_corrections()) if d.decision_id == ids[2]]
        assert (kept.final_classification, kept.final_risk_level) == ("routine_read", "low")


def test_figures_counted_in_sql_match_the_review_stack_with_undos(store_location: str) -> None:
    """Most decisions are counted in SQL, those with an undo through the stack: both
    together give what the history says (a reference computed from it here)."""
    import random

    from policy_desktop.store.decision import CORRECTION_ACTIONS
    from policy_desktop.vocabulary import DECISIONS

    rng = random.Random(4)
    with PolicyDecisionLog(store_location) as log:
        decisions = [make_decision(i) for i in range(40)]
        log.log_decisions(decisions)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(50)
        names = ["ann", "bob", "cy"]
        for _ in range(6):
            for name in names:
                for claim in queue.claim(name, 4):
                    queue.submit(claim, rng.choice(DECISIONS))
        for decision in decisions[::3]:
            current = log.get_decision(decision.decision_id or "")
            if current is not None and current.reviewer:
                log.undo_review(decision.decision_id or "", current.reviewer)
                if rng.random() < 0.5:  # reviewed again outside the queue
                    log.mark_reviewed(decision.decision_id or "", rng.choice(DECISIONS),
                                      None, current.reviewer)
        expected_reviews: dict[str, int] = {}
        expected_corrections: dict[str, int] = {}
        for decision in decisions:
            stack = []
            for event in log.get_review_history(decision.decision_id or ""):
                if event.action == "undo":
                    if stack:
                        stack.pop()
                else:
                    stack.append(event)
            for event in stack:
                name = event.reviewer or ""
                expected_reviews[name] = expected_reviews.get(name, 0) + 1
                expected_corrections[name] = expected_corrections.get(name, 0) + (
                    event.action in CORRECTION_ACTIONS)
        team = ReviewTeam(log)
        figures = team.reviewer_figures()
        agreement, awaiting, same_figures = team.overview()
        assert same_figures == figures and agreement == team.agreement()
        assert awaiting == len(team.disagreements())
        assert agreement.overall.units > 5
    assert {f.name: f.reviews for f in figures} == expected_reviews
    assert {f.name: f.corrections for f in figures} == expected_corrections
