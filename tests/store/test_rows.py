"""The typed row readers return what peewee's dicts() and tuples() do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_helpers import make_decision

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.rows import dict_rows, iter_dict_rows, tuple_rows


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def test_rows_as_dicts_and_tuples(log: PolicyDecisionLog) -> None:
    log.log_decisions([make_decision(index) for index in range(3)])
    Decision = log.models.Decision
    query = Decision.select(Decision.decision_id, Decision.reviewed).order_by(Decision.decision_id)
    ids = sorted(decision.decision_id for decision in log.get_all_decisions())
    assert dict_rows(query) == [{"decision_id": i, "reviewed": 0} for i in ids]
    assert list(iter_dict_rows(query)) == dict_rows(query)
    assert tuple_rows(query) == [(i, 0) for i in ids]
