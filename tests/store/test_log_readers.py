"""The log's readers: its view methods select what ``views.py`` defines; runs by id or prefix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from store_helpers import make_decision

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.log import DUMP_SELECTIONS
from policy_desktop.store.views import VIEWS, view_condition


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def _in_view(log: PolicyDecisionLog, view: str) -> set[str]:
    Decision = log.models.Decision
    condition = view_condition(Decision, view)
    query = Decision.select(Decision.decision_id)
    return {row.decision_id for row in (query if condition is None else query.where(condition))}


def _ids(decisions: Iterable[PolicyDecision]) -> set[str]:
    return {decision.decision_id or "" for decision in decisions}


def test_the_view_readers_and_the_dump_select_what_views_py_defines(
        log: PolicyDecisionLog) -> None:
    decisions = [make_decision(index, decision_correct=correct)
                 for index, correct in enumerate((None, True, False) * 3)]
    log.log_decisions(decisions)
    ids = [decision.decision_id or "" for decision in decisions]
    log.mark_reviewed(ids[0])
    log.mark_reviewed(ids[1], "deny", "Human reasoning.")
    log.mark_reviewed(ids[2], "allow", "Different reasoning.")
    assert _ids(log.get_unreviewed_decisions()) == _in_view(log, "unreviewed")
    assert _ids(log.get_incorrect_decisions()) == _in_view(log, "incorrect")
    assert _ids(log.get_corrections()) == _in_view(log, "corrections")
    assert log.count_corrections() == len(_in_view(log, "corrections")) >= 1
    assert _ids(log.get_all_decisions()) == _in_view(log, "all") == set(ids)
    assert set(DUMP_SELECTIONS) <= set(VIEWS)
    for selection in DUMP_SELECTIONS:
        streamed = list(log.iter_decisions(selection))
        assert _ids(streamed) == _in_view(log, selection), selection
        assert [d.timestamp for d in streamed] == sorted(d.timestamp or "" for d in streamed)
    assert len(log.get_unreviewed_decisions(limit=2)) == 2


@pytest.mark.parametrize("selection", ["reviewed", "everything"])
def test_the_dump_streams_only_its_selections(log: PolicyDecisionLog, selection: str) -> None:
    with pytest.raises(ValueError, match=f"unknown selection '{selection}'"):
        next(log.iter_decisions(selection))


def test_a_run_is_found_by_its_id_or_a_unique_prefix(log: PolicyDecisionLog) -> None:
    first = log.start_run(run_id="run_alpha_1", model_name="m")
    log.start_run(run_id="run_alpha_2")
    log.start_run(run_id="run_beta")
    found = log.get_run(first)
    assert found is not None and found.run_id == first and found.model_name == "m"
    assert found.scenario_ids == [] and found.settings == {} and found.status == "running"
    beta = log.get_run("run_b")
    assert beta is not None and beta.run_id == "run_beta"
    assert log.get_run("run_alpha") is None  # two runs start so: not unique
    assert log.get_run("run_gamma") is None
    assert [run.run_id for run in log.list_runs(limit=5)] != []
    assert log.get_decision("dec_missing") is None
    assert log.get_decisions(["dec_missing"]) == {}
