"""Human review: accept vs corrections, the append-only history, undo, immutability."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import make_decision, raw_query, raw_rows

from policy_desktop.store import (
    DecisionNotFoundError,
    InvalidRecordError,
    PolicyDecisionLog,
    StoreError,
)
from policy_desktop.store.schema import ALL_COLUMNS

REVIEW_STATE = ("reviewed", "review_decision", "review_reasoning", "review_timestamp",
                "reviewer", "review_action")
MODEL_OUTPUT = tuple(name for name in ALL_COLUMNS if name not in REVIEW_STATE)
REASONING = "Reasoning number 0: the policy says so."


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


@pytest.fixture
def decision_id(log: PolicyDecisionLog) -> str:
    """An allow decision with :data:`REASONING`, logged."""
    return log.log_decision(make_decision(0, decision="allow", reasoning=REASONING))


ACTIONS = [
    ((None, None), "accept"),
    (("allow", None), "accept"),
    (("allow", REASONING), "accept"),
    ((None, "  " + REASONING + "\n"), "accept"),
    (("deny", None), "correct_decision"),
    (("deny", REASONING), "correct_decision"),
    ((None, "A better reason."), "correct_reasoning"),
    (("allow", "A better reason."), "correct_reasoning"),
    (("require_mfa", "MFA first."), "correct_both"),
]


@pytest.mark.parametrize(("review", "action"), ACTIONS, ids=lambda v: str(v)[:30])
def test_review_action(log: PolicyDecisionLog, decision_id: str,
                       review: tuple[str | None, str | None], action: str) -> None:
    review_decision, review_reasoning = review
    assert log.mark_reviewed(decision_id, review_decision, review_reasoning, "ann") == action
    stored = log.get_decision(decision_id)
    assert stored is not None
    assert stored.reviewed is True
    assert stored.review_action == action
    assert stored.reviewer == "ann"
    assert stored.review_timestamp is not None
    history = log.get_review_history(decision_id)
    assert [event.action for event in history] == [action]
    assert stored.is_correction == (action != "accept")
    assert (stored in log.get_corrections()) == (action != "accept")


def test_review_columns_show_the_latest_review(log: PolicyDecisionLog, decision_id: str) -> None:
    log.mark_reviewed(decision_id, "deny", None, "ann")
    log.mark_reviewed(decision_id, "require_mfa", "Needs MFA.", "bob")
    stored = log.get_decision(decision_id)
    assert stored is not None
    assert (stored.review_decision, stored.review_reasoning, stored.reviewer,
            stored.review_action) == ("require_mfa", "Needs MFA.", "bob", "correct_both")
    assert stored.final_decision == "require_mfa"
    assert stored.final_reasoning == "Needs MFA."
    assert stored.decision == "allow" and stored.reasoning == REASONING


def test_history_is_append_only(log: PolicyDecisionLog, decision_id: str, db_path: Path) -> None:
    log.mark_reviewed(decision_id, "deny", reviewer="ann")
    first = raw_rows(db_path, "reviews", "id")
    log.mark_reviewed(decision_id, reviewer="bob")
    log.undo_review(decision_id, reviewer="bob")
    log.mark_reviewed(decision_id, None, "Because.", reviewer="cy")
    rows = raw_rows(db_path, "reviews", "id")
    assert rows[: len(first)] == first  # earlier events untouched
    assert [(r["reviewer"], r["action"]) for r in rows] == [
        ("ann", "correct_decision"), ("bob", "accept"), ("bob", "undo"),
        ("cy", "correct_reasoning")]
    assert [r["decision_id"] for r in rows] == [decision_id] * 4
    assert rows[0]["review_decision"] == "deny"
    assert rows[3]["review_reasoning"] == "Because."
    assert all(r["timestamp"] for r in rows)
    history = log.get_review_history(decision_id)
    assert [e.action for e in history] == [r["action"] for r in rows]


def test_undo_returns_to_the_state_before_the_last_review(log: PolicyDecisionLog,
                                                          decision_id: str) -> None:
    log.mark_reviewed(decision_id, "deny", "Deny it.", "ann")
    after_first = log.get_decision(decision_id)
    log.mark_reviewed(decision_id, reviewer="bob")
    restored = log.undo_review(decision_id)
    assert restored == after_first
    assert log.get_decision(decision_id) == after_first
    unreviewed = log.undo_review(decision_id)
    assert unreviewed.reviewed is False
    assert (unreviewed.review_decision, unreviewed.review_reasoning, unreviewed.review_timestamp,
            unreviewed.reviewer, unreviewed.review_action) == (None, None, None, None, None)
    assert unreviewed == make_decision(
        0, decision="allow", reasoning=REASONING, decision_id=decision_id,
        timestamp=unreviewed.timestamp)
    actions = [e.action for e in log.get_review_history(decision_id)]
    assert actions == ["correct_both", "accept", "undo", "undo"]
    assert log.get_statistics()["reviewed"] == 0
    assert decision_id in {d.decision_id for d in log.get_unreviewed_decisions()}


def test_undo_without_a_review_is_refused(log: PolicyDecisionLog, decision_id: str) -> None:
    with pytest.raises(StoreError, match="no review to undo"):
        log.undo_review(decision_id)
    log.mark_reviewed(decision_id)
    log.undo_review(decision_id)
    with pytest.raises(StoreError, match="no review to undo"):
        log.undo_review(decision_id)
    assert [e.action for e in log.get_review_history(decision_id)] == ["accept", "undo"]


def test_review_after_undo_counts_once(log: PolicyDecisionLog, decision_id: str) -> None:
    log.mark_reviewed(decision_id, "deny")
    log.undo_review(decision_id)
    log.mark_reviewed(decision_id, "deny")
    stats = log.get_statistics()
    assert (stats["reviewed"], stats["corrections"]) == (1, 1)
    assert len(log.get_corrections()) == 1


def test_model_output_is_never_modified(log: PolicyDecisionLog, db_path: Path) -> None:
    ids = [log.log_decision(make_decision(i)) for i in range(6)]
    log.log_decision(make_decision(9, decision="unparseable", reasoning=None, confidence=None))

    def snapshot() -> list[tuple[object, ...]]:
        columns = ", ".join(MODEL_OUTPUT)
        return raw_query(db_path, f"SELECT {columns} FROM decisions ORDER BY decision_id")

    before = snapshot()
    log.mark_reviewed(ids[0])
    log.mark_reviewed(ids[1], "deny", "No.", "ann")
    log.mark_reviewed(ids[2], None, "Other reasoning.")
    log.mark_reviewed(ids[3], "allow")
    log.mark_reviewed(ids[1], "require_attestation")
    log.undo_review(ids[1])
    log.undo_review(ids[0])
    log.mark_reviewed(ids[0], "require_mfa", "MFA.")
    log.undo_review(ids[1])
    assert snapshot() == before


def test_unknown_decision(log: PolicyDecisionLog) -> None:
    with pytest.raises(DecisionNotFoundError, match="dec_nope"):
        log.mark_reviewed("dec_nope")
    with pytest.raises(DecisionNotFoundError):
        log.undo_review("dec_nope")
    assert log.get_review_history("dec_nope") == []


@pytest.mark.parametrize(("review_decision", "review_reasoning"),
                         [("maybe", None), ("unparseable", None), ("ALLOW", None), (None, "   ")])
def test_bad_reviews_are_refused(log: PolicyDecisionLog, decision_id: str,
                                 review_decision: str | None,
                                 review_reasoning: str | None) -> None:
    with pytest.raises(InvalidRecordError):
        log.mark_reviewed(decision_id, review_decision, review_reasoning)
    assert log.get_review_history(decision_id) == []
    stored = log.get_decision(decision_id)
    assert stored is not None and stored.reviewed is False


def test_corrections_newest_first(log: PolicyDecisionLog) -> None:
    from store_helpers import timestamp

    ids = [log.log_decision(make_decision(i, decision="allow", timestamp=timestamp(i)))
           for i in range(5)]
    log.mark_reviewed(ids[0], "deny")
    log.mark_reviewed(ids[1])
    log.mark_reviewed(ids[3], None, "Different.")
    log.mark_reviewed(ids[4], "require_mfa", "Both.")
    assert [d.decision_id for d in log.get_corrections()] == [ids[4], ids[3], ids[0]]
    assert [d.review_action for d in log.get_corrections()] == [
        "correct_both", "correct_reasoning", "correct_decision"]


def test_reviewing_an_unparseable_decision(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(decision="unparseable", reasoning=None))
    assert log.mark_reviewed(decision_id, "deny", "Risky write.") == "correct_both"
    stored = log.get_decision(decision_id)
    assert stored is not None and stored.final_decision == "deny"
