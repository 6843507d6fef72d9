"""The review views, defined once: their SQL and their Python test agree row by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import make_decision

from policy_desktop.store import PolicyDecisionLog, views
from policy_desktop.store.views import (
    STATE_COLUMNS,
    VIEWS,
    state_fields,
    view_condition,
    views_of,
)


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def test_every_view_selects_in_sql_what_its_test_says_in_python(log: PolicyDecisionLog) -> None:
    decisions = [make_decision(index, decision_correct=correct)
                 for index, correct in enumerate((None, True, False) * 4)]
    log.log_decisions(decisions)
    ids = [decision.decision_id or "" for decision in decisions]
    log.mark_reviewed(ids[0])                                  # accept, correctness unknown
    log.mark_reviewed(ids[1], "deny", "Human reasoning.")      # a correction
    log.mark_reviewed(ids[2], "allow", "Different reasoning.")
    log.mark_reviewed(ids[3])
    log.undo_review(ids[3])                                    # reviewed, then taken back
    Decision = log.models.Decision
    rows = list(Decision.select(Decision.decision_id, *state_fields(Decision)).dicts())
    for view in VIEWS:
        condition = view_condition(Decision, view)
        query = Decision.select(Decision.decision_id)
        if condition is not None:
            query = query.where(condition)
        in_sql = {row.decision_id for row in query}
        in_python = {row["decision_id"] for row in rows if view in views_of(row)}
        assert in_sql == in_python, view
    tally = {view: sum(view in views_of(row) for row in rows) for view in VIEWS}
    assert tally["all"] == 12 and tally["incorrect"] == 4
    assert tally["reviewed"] + tally["unreviewed"] == 12 and tally["reviewed"] == 3
    assert 1 <= tally["corrections"] <= 2


def test_null_is_in_no_view_but_all_and_unknown_views_are_refused() -> None:
    blank = dict.fromkeys(STATE_COLUMNS)
    assert views_of(blank) == ["all"]
    with pytest.raises(ValueError, match="unknown view 'nope'"):
        view_condition(None, "nope")


VIEW_SQL = ("reviewed == 0", "reviewed == 1", "decision_correct == 0",
            "review_action.in_(CORRECTION_ACTIONS)")


def _writes_a_view(module: str) -> list[str]:
    text = (Path(views.__file__).parent / module).read_text(encoding="utf-8")
    return [pattern for pattern in VIEW_SQL if pattern in text]


def test_the_queries_take_the_views_from_views_py() -> None:
    assert _writes_a_view("queries.py") == []


def test_the_log_takes_the_views_from_views_py() -> None:
    assert _writes_a_view("log.py") == []
