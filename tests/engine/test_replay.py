"""Replay on a small logged set: links, flip matrix, accuracy, dangerous flips, resume."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from policy_desktop.engine.model_process import ModelCrashed
from policy_desktop.engine.prompts import PromptCatalog, load_policy
from policy_desktop.engine.replay import (
    REPLAY_TAG,
    Candidate,
    ReplayMismatch,
    continue_replay,
    plan_replay,
)
from policy_desktop.engine.replay_report import replay_report
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.replay import ReplaySelection, ReplayStateError, ReplayStore
from tests.replay_helpers import SCRIPT, ScriptedModel, logged_set, snapshot

EVERYTHING = ReplaySelection(DecisionFilter(view="all"))


def candidate(model: ScriptedModel, version: str = "v3_tuned_short") -> Candidate:
    return Candidate(model, PromptCatalog().get(version), load_policy())


@pytest.fixture
def log(db_path: Path):
    with PolicyDecisionLog(db_path) as opened:
        yield opened


def test_replay_links_every_original_and_leaves_them_untouched(log, db_path) -> None:
    ids = logged_set(log)
    before = snapshot(db_path)
    model = ScriptedModel()
    run_id, planned = plan_replay(log, EVERYTHING, candidate(model))
    outcome = continue_replay(log, run_id, candidate(model))

    assert planned == len(SCRIPT) and outcome.status == "completed"
    assert (outcome.done, outcome.total, outcome.answered_now) == (8, 8, 8)
    assert snapshot(db_path) == before
    store = ReplayStore(log)
    assert store.is_replay(run_id) and store.pending(run_id) == []
    assert store.replay_run_ids() == {run_id}
    pairs = dict((o.decision_id, a) for o, a in store.pairs(run_id))
    assert set(pairs) == set(ids.values())
    for actor, original_id in ids.items():
        answer = pairs[original_id]
        assert answer.decision == SCRIPT[actor][2]
        assert answer.run_id == run_id and answer.tags == [REPLAY_TAG]
        assert answer.situation["actor"] == actor
        assert answer.model_name == "scripted-candidate"
        assert answer.prompt_version == "v3_tuned_short"
        assert not answer.reviewed
    run = log.get_run(run_id)
    assert run is not None and run.status == "completed"
    # The replay's answers are ordinary decisions: the table's run filter finds them.
    assert DecisionQueries(log).count(DecisionFilter(view="all", run_id=run_id)) == 8


def test_flip_matrix_accuracy_and_dangerous_flips(log) -> None:
    ids = logged_set(log)
    model = ScriptedModel()
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    continue_replay(log, run_id, candidate(model))
    report = replay_report(log, run_id)

    counts = {key: len(pairs) for key, pairs in report.matrix.items()}
    assert counts == {("allow", "allow"): 2, ("deny", "allow"): 3, ("allow", "deny"): 1,
                      ("require_mfa", "allow"): 1, ("require_attestation", "deny"): 1}
    assert report.flips == 6
    cell = {pair.original.decision_id for pair in report.cell("deny", "allow")}
    assert cell == {ids["bob"], ids["cat"], ids["fay"]}

    # Reviewed: ann, bob, cat, dan, eve, hal (6). Original right: ann bob dan eve = 4;
    # candidate right: ann cat hal = 3. Discordant: b (orig right, cand wrong) = bob dan
    # eve = 3, c (orig wrong, cand right) = cat hal = 2. McNemar: 2 * P(X<=2 | 5) = 2*16/32.
    c = report.comparison
    assert c.n == 6
    assert c.accuracy_a == pytest.approx(4 / 6) and c.accuracy_b == pytest.approx(3 / 6)
    assert (c.b, c.c) == (3, 2)
    assert c.p_value == pytest.approx(1.0)
    assert c.difference == pytest.approx(-1 / 6)
    assert c.ci_low < -1 / 6 < c.ci_high

    # Dangerous: candidate allows where the human (bob: deny, eve: MFA) or, unreviewed,
    # the original (fay: deny) was restrictive; reviewed ones first. Not cat (human allowed).
    dangerous = [pair.original.decision_id for pair in report.dangerous]
    assert set(dangerous[:2]) == {ids["bob"], ids["eve"]}
    assert dangerous[2:] == [ids["fay"]]

    roles = {row.value: row for row in report.breakdowns["role"]}
    assert roles["guest"].pairs == 2 and roles["guest"].dangerous == 2
    assert roles["member"].flips == 1 and roles["member"].candidate_right == 2
    assert [row.value for row in report.breakdowns["action"]] == ["read"]
    assert "rule" not in report.breakdowns  # no situation has a rule field

    data = report.to_dict()
    assert data["accuracy"]["mcnemar_exact_p"] == pytest.approx(1.0)
    assert data["dangerous_flips"][-1]["original_id"] == ids["fay"]


def test_selection_reviewed_only_time_range_and_limit(log) -> None:
    ids = logged_set(log)
    store = ReplayStore(log)
    reviewed = store.select_originals(ReplaySelection(DecisionFilter(view="reviewed")))
    assert set(reviewed) == {ids[a] for a, (_, human, _) in SCRIPT.items() if human}
    # ann..hal are logged at 10:00..10:07; 10:02-10:04 inclusive is cat, dan, eve.
    window = store.select_originals(ReplaySelection(
        DecisionFilter(view="all"), since="2026-03-01T10:02:00Z", until="2026-03-01T10:04:00Z"))
    assert window == [ids["eve"], ids["dan"], ids["cat"]]  # newest first, like the table
    newest = store.select_originals(ReplaySelection(DecisionFilter(view="reviewed"), limit=2))
    assert newest == [ids["hal"], ids["eve"]]
    denied = store.select_originals(ReplaySelection(DecisionFilter(view="all", decision="deny")))
    assert set(denied) == {ids["bob"], ids["cat"], ids["fay"]}


def test_the_run_records_every_part_of_its_selection(log) -> None:
    ids = logged_set(log)
    chosen = (ids["bob"], ids["cat"])
    selection = ReplaySelection(DecisionFilter(view="all", decision="deny",
                                               review_action="correct_decision",
                                               decision_ids=chosen), limit=5)
    run_id, planned = plan_replay(log, selection, candidate(ScriptedModel()))
    assert planned == 1  # cat: denied, corrected to allow
    stored = ReplayStore(log).selection(run_id)
    assert stored["review_action"] == "correct_decision" and stored["decision"] == "deny"
    assert stored["decision_ids"] == list(chosen) and stored["limit"] == 5
    assert stored["pass_coverage"] is None
    failures = ReplaySelection(DecisionFilter(view="failures", pass_coverage=0.6))
    run_id, _ = plan_replay(log, failures, candidate(ScriptedModel()))
    stored = ReplayStore(log).selection(run_id)
    assert (stored["view"], stored["pass_coverage"], stored["decision_ids"]) == (
        "failures", 0.6, None)


def test_replay_answers_are_never_selected_again(log) -> None:
    logged_set(log)
    model = ScriptedModel()
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    continue_replay(log, run_id, candidate(model))
    again, planned = plan_replay(log, EVERYTHING, candidate(model))
    assert planned == len(SCRIPT)  # the 8 originals, not their 8 replay answers
    assert set(ReplayStore(log).pending(again)).isdisjoint(
        {a.decision_id for _, a in ReplayStore(log).pairs(run_id)})


def test_cancel_then_resume_continues_where_it_stopped_without_duplicates(log) -> None:
    logged_set(log)
    model = ScriptedModel()
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    stop = threading.Event()

    class StopAfterThree:
        def replay_started(self, run_id: str, total: int, done: int) -> None: ...

        def decision_replayed(self, done, total, original, answer) -> None:
            if done == 3:
                stop.set()

    first = continue_replay(log, run_id, candidate(model), listener=StopAfterThree(),
                            should_stop=stop.is_set)
    assert (first.status, first.done) == ("cancelled", 3)
    run = log.get_run(run_id)
    assert run is not None and run.status == "cancelled"
    assert len(ReplayStore(log).pending(run_id)) == 5
    calls_before = len(model.calls)

    second = continue_replay(log, run_id, candidate(model))
    assert (second.status, second.done, second.answered_now) == ("completed", 8, 5)
    assert len(model.calls) - calls_before == 5  # only the rest was asked
    answers = log.run_decisions(run_id)
    assert len(answers) == 8
    originals = [o.decision_id for o, _ in ReplayStore(log).pairs(run_id)]
    assert len(originals) == len(set(originals)) == 8
    # A third continue has nothing left to do.
    third = continue_replay(log, run_id, candidate(model))
    assert (third.status, third.answered_now) == ("completed", 0)
    assert len(log.run_decisions(run_id)) == 8


def test_model_crash_fails_the_run_keeps_answers_and_resumes(log) -> None:
    logged_set(log)
    crashing = ScriptedModel(fail_after=4, failure=ModelCrashed("model died of SIGSEGV"))
    run_id, _ = plan_replay(log, EVERYTHING, candidate(crashing))
    with pytest.raises(ModelCrashed):
        continue_replay(log, run_id, candidate(crashing))
    run = log.get_run(run_id)
    assert run is not None and run.status == "failed" and "SIGSEGV" in (run.error or "")
    assert len(log.run_decisions(run_id)) == 3
    outcome = continue_replay(log, run_id, candidate(ScriptedModel()))
    assert (outcome.status, outcome.done, outcome.answered_now) == ("completed", 8, 5)


def test_parallel_replay_asks_at_once_and_keeps_the_plan_order(log) -> None:
    logged_set(log)
    model = ScriptedModel(delay=0.05)
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    continue_replay(log, run_id, candidate(model), parallel=4)
    assert model.most_at_once > 1
    store = ReplayStore(log)
    order = [o.decision_id for o, _ in store.pairs(run_id)]
    assert order == [link.original_id for link in store.links(run_id)]
    report = replay_report(log, run_id)
    assert report.replayed == 8 and report.flips == 6


def test_continuing_with_another_candidate_is_refused(log) -> None:
    logged_set(log)
    run_id, _ = plan_replay(log, EVERYTHING, candidate(ScriptedModel()))
    with pytest.raises(ReplayMismatch, match="model"):
        continue_replay(log, run_id, candidate(ScriptedModel(name="another")))
    with pytest.raises(ReplayMismatch, match="prompt version"):
        continue_replay(log, run_id, candidate(ScriptedModel(), "v2_fewshot_8examples"))
    assert len(log.run_decisions(run_id)) == 0


def test_an_original_is_answered_once_per_replay(log) -> None:
    ids = logged_set(log)
    model = ScriptedModel()
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    continue_replay(log, run_id, candidate(model))
    extra = log.run_decisions(run_id)[0]
    extra.decision_id = None
    with pytest.raises(ReplayStateError):
        ReplayStore(log).record(run_id, ids["ann"], extra)
    assert len(log.run_decisions(run_id)) == 8


def test_an_empty_selection_is_a_completed_replay_of_nothing(log) -> None:
    logged_set(log)
    model = ScriptedModel()
    selection = ReplaySelection(DecisionFilter(view="all", model_name="no-such-model"))
    run_id, planned = plan_replay(log, selection, candidate(model))
    outcome = continue_replay(log, run_id, candidate(model))
    assert (planned, outcome.status, outcome.total) == (0, "completed", 0)
    report = replay_report(log, run_id)
    assert report.comparison.n == 0 and report.comparison.accuracy_a is None
    assert report.matrix == {} and report.dangerous == []


def test_a_replay_still_running_elsewhere_is_not_continued(log) -> None:
    logged_set(log)
    model = ScriptedModel()
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    Run = log.models.Run
    Run.update(owner_pid=1, owner_host="elsewhere").where(Run.run_id == run_id).execute()
    with pytest.raises(ReplayMismatch, match="still running"):
        continue_replay(log, run_id, candidate(model))
    assert model.calls == [] and len(log.run_decisions(run_id)) == 0
    log.finish_run(run_id, "interrupted", {})  # what opening the database does once it died
    outcome = continue_replay(log, run_id, candidate(model))
    assert (outcome.status, outcome.done) == ("completed", 8)


def test_parallel_cancel_keeps_what_was_recorded_and_resumes(log) -> None:
    logged_set(log)
    model = ScriptedModel(delay=0.05)
    run_id, _ = plan_replay(log, EVERYTHING, candidate(model))
    stop = threading.Event()

    class StopAfterTwo:
        def replay_started(self, run_id: str, total: int, done: int) -> None: ...

        def decision_replayed(self, done, total, original, answer) -> None:
            if done == 2:
                stop.set()

    first = continue_replay(log, run_id, candidate(model), listener=StopAfterTwo(),
                            should_stop=stop.is_set, parallel=4)
    assert (first.status, first.done) == ("cancelled", 2)
    assert len(log.run_decisions(run_id)) == 2
    second = continue_replay(log, run_id, candidate(model), parallel=4)
    assert (second.status, second.done, second.answered_now) == ("completed", 8, 6)
    originals = [o.decision_id for o, _ in ReplayStore(log).pairs(run_id)]
    assert len(log.run_decisions(run_id)) == 8 and len(set(originals)) == 8
