"""Logging and reading decisions through the public API, and the statistics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_helpers import ID_PATTERN, TRICKY_TEXTS, make_decision, raw_query, timestamp

from policy_desktop.store import InvalidRecordError, PolicyDecision, PolicyDecisionLog
from policy_desktop.store import log as log_module
from policy_desktop.store.decision import DECISION_FIELDS, make_decision_id, parse_timestamp


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


# --- ids and timestamps ---------------------------------------------------------------------


def test_log_decision_fills_in_id_and_timestamp(log: PolicyDecisionLog) -> None:
    decision = make_decision()
    before = datetime.now().astimezone()
    decision_id = log.log_decision(decision)
    after = datetime.now().astimezone()
    assert decision.decision_id == decision_id
    assert re.fullmatch(ID_PATTERN, decision_id)
    assert decision.timestamp is not None
    moment = parse_timestamp(decision.timestamp)
    assert moment.tzinfo is not None and before <= moment <= after
    assert decision_id[4:19] == moment.strftime("%Y-%m-%dT%H%M")
    assert log.get_decision(decision_id) == decision


def test_id_minute_comes_from_the_decisions_own_timestamp(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(timestamp="2026-02-02T08:05:59.999+00:00"))
    assert re.fullmatch(r"dec_2026-02-02T0805_[0-9a-f]{8}", decision_id)


def test_example_id_from_the_issue() -> None:
    assert make_decision_id("2026-02-02T08:05:12+00:00", "7941fb52") == (
        "dec_2026-02-02T0805_7941fb52")
    assert re.fullmatch(ID_PATTERN, "dec_2026-02-02T0805_7941fb52")


def test_new_ids_are_random(log: PolicyDecisionLog) -> None:
    same_minute = "2026-02-02T08:05:00+00:00"
    ids = {log.log_decision(make_decision(i, timestamp=same_minute)) for i in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(ID_PATTERN, decision_id) for decision_id in ids)
    suffixes = {decision_id[-8:] for decision_id in ids}
    assert len(suffixes) == 200
    assert {digit for suffix in suffixes for digit in suffix} == set("0123456789abcdef")


def test_given_id_and_timestamp_are_kept(log: PolicyDecisionLog) -> None:
    decision = make_decision(decision_id="seed-style-id-1", timestamp="2025-12-31T23:59:00Z")
    assert log.log_decision(decision) == "seed-style-id-1"
    stored = log.get_decision("seed-style-id-1")
    assert stored is not None and stored.timestamp == "2025-12-31T23:59:00Z"


# --- round trips ------------------------------------------------------------------------------


def test_every_field_round_trips(log: PolicyDecisionLog) -> None:
    decision = make_decision(
        3, timestamp=timestamp(1), decision_id="dec_2026-02-02T0801_0000abcd",
        decision_correct=False, reasoning_coverage=0.0, confidence=1.0, run_id="run_x",
        prompt_tokens=812, generated_tokens=64, seconds=7.25, expected_decision="deny",
        situation={"nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}, "n": -3},
        tags=[], team_context=None,
    )
    log.log_decision(decision)
    stored = log.get_decision(decision.decision_id or "")
    assert stored == decision
    assert isinstance(stored.situation, dict) and isinstance(stored.tags, list)
    assert stored.decision_correct is False and stored.reviewed is False
    assert stored.situation["nested"]["list"] == [1, 2.5, None, True, "x"]


def test_situation_and_tags_are_stored_as_json(log: PolicyDecisionLog, db_path: Path) -> None:
    log.log_decision(make_decision(situation={"actor": "ann"}, tags=["a", "b"]))
    assert raw_query(db_path, "SELECT situation, tags, reviewed FROM decisions") == [
        ('{"actor": "ann"}', '["a", "b"]', 0)]


@pytest.mark.parametrize("text", TRICKY_TEXTS, ids=lambda t: t[:12])
def test_text_is_stored_exactly_as_given(log: PolicyDecisionLog, db_path: Path, text: str) -> None:
    decision = make_decision(
        reasoning=text, full_response=text, team_context=text, scenario_id=text,
        situation={"actor": text, text[:50]: [text]}, tags=[text, "plain"],
        model_name=text[:200], prompt_version=text[:100],
    )
    decision_id = log.log_decision(decision)
    stored = log.get_decision(decision_id)
    assert stored == decision
    assert raw_query(db_path, "SELECT reasoning FROM decisions WHERE decision_id = ?",
                     decision_id) == [(text,)]
    assert raw_query(db_path, "SELECT count(*) FROM decisions") == [(1,)]


def test_numpy_numbers_are_stored_as_plain_numbers(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(
        reasoning_coverage=np.float32(0.5), confidence=np.float64(0.25),
        seconds=np.float32(1.5), prompt_tokens=np.int64(10), decision_correct=np.bool_(True)))
    stored = log.get_decision(decision_id)
    assert stored is not None
    assert (stored.reasoning_coverage, stored.confidence, stored.seconds) == (0.5, 0.25, 1.5)
    assert stored.prompt_tokens == 10 and stored.decision_correct is True


def test_get_decision_of_unknown_id_is_none(log: PolicyDecisionLog) -> None:
    assert log.get_decision("dec_2026-02-02T0805_00000000") is None
    assert log.get_decision("' OR 1=1 --") is None


# --- batches ---------------------------------------------------------------------------------


def test_log_decisions_stores_all_and_returns_count(log: PolicyDecisionLog) -> None:
    decisions = [make_decision(i) for i in range(25)]
    assert log.log_decisions(decisions) == 25
    assert all(d.decision_id and re.fullmatch(ID_PATTERN, d.decision_id) for d in decisions)
    assert len(log.get_all_decisions()) == 25
    assert log.log_decisions(iter([])) == 0


def test_log_decisions_accepts_a_generator(log: PolicyDecisionLog) -> None:
    assert log.log_decisions(make_decision(i) for i in range(7)) == 7
    assert log.get_statistics()["total"] == 7


def test_one_transaction_per_batch(log: PolicyDecisionLog, monkeypatch: pytest.MonkeyPatch,
                                   db_path: Path) -> None:
    """A bad decision loses its own batch only; earlier batches stay stored."""
    monkeypatch.setattr(log_module, "BATCH_SIZE", 10)
    good = [make_decision(i) for i in range(15)]
    commits: list[int] = []
    original = log._insert_rows

    def counting(batch: Any, *more: Any) -> int:
        commits.append(len(batch.rows))
        return original(batch, *more)

    monkeypatch.setattr(log, "_insert_rows", counting)
    assert log.log_decisions(good) == 15
    assert commits == [10, 5]
    # 10 new decisions, then a batch with a new one and an id already stored.
    again = [make_decision(100 + i) for i in range(10)]
    again += [make_decision(200), make_decision(0, decision_id=good[0].decision_id)]
    with pytest.raises(InvalidRecordError, match="already stored"):
        log.log_decisions(again)
    assert raw_query(db_path, "SELECT count(*) FROM decisions") == [(25,)]
    assert log.get_decision(again[0].decision_id or "") is not None
    assert log.get_decision(again[10].decision_id or "") is None


def test_invalid_decision_in_a_batch_stores_nothing_of_it(log: PolicyDecisionLog) -> None:
    decisions = [make_decision(i) for i in range(5)] + [make_decision(5, decision="maybe")]
    with pytest.raises(InvalidRecordError):
        log.log_decisions(decisions)
    assert log.get_statistics()["total"] == 0


def test_duplicate_id_raises_invalid_record(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision())
    with pytest.raises(InvalidRecordError, match="already stored"):
        log.log_decision(make_decision(1, decision_id=decision_id))
    stored = log.get_decision(decision_id)
    assert stored is not None and stored.reasoning == make_decision().reasoning


# --- validation --------------------------------------------------------------------------------

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"decision": "maybe"}, "decision 'maybe' is not one of"),
    ({"decision": "ALLOW"}, "not one of"),
    ({"decision": ""}, "decision is required"),
    ({"model_name": ""}, "model_name is required"),
    ({"model_version": None}, "model_version is required"),
    ({"prompt_version": 2}, "prompt_version must be a string"),
    ({"situation": "actor=ann"}, "situation must be an object"),
    ({"situation": ["a"]}, "situation must be an object"),
    ({"tags": "a,b"}, "tags must be a list of strings"),
    ({"tags": ["a", 1]}, "tags must be a list of strings"),
    ({"timestamp": "yesterday"}, "not an ISO-8601 timestamp"),
    ({"timestamp": "2026-13-45T10:00:00"}, "not an ISO-8601 timestamp"),
    ({"reasoning_coverage": 1.5}, "between 0 and 1"),
    ({"reasoning_coverage": -0.1}, "between 0 and 1"),
    ({"reasoning_coverage": float("nan")}, "must be a number"),
    ({"confidence": 2}, "between 0 and 1"),
    ({"seconds": float("inf")}, "must be a number"),
    ({"seconds": "fast"}, "must be a number"),
    ({"prompt_tokens": 1.5}, "must be an integer"),
    ({"decision_correct": "yes"}, "must be true or false"),
    ({"expected_decision": "unparseable"}, "expected_decision 'unparseable' is not one of"),
    ({"expected_decision": "maybe"}, "expected_decision"),
    ({"review_decision": "maybe", "reviewed": True}, "review_decision"),
    ({"review_action": "accept"}, "reviewed is false"),
    ({"review_action": "approve", "reviewed": True}, "review_action"),
    ({"decision_id": "  "}, "decision_id cannot be empty"),
    ({"reasoning": 42}, "reasoning must be a string"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID, ids=lambda v: str(v)[:40])
def test_bad_values_raise_invalid_record(log: PolicyDecisionLog, overrides: dict[str, Any],
                                         message: str) -> None:
    with pytest.raises(InvalidRecordError, match=re.escape(message)):
        log.log_decision(make_decision(**overrides))
    assert log.get_statistics()["total"] == 0


def test_unparseable_is_a_valid_logged_decision(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(decision="unparseable", confidence=None))
    stored = log.get_decision(decision_id)
    assert stored is not None and stored.decision == "unparseable"


def test_unpaired_surrogate_is_rejected_not_crashing(log: PolicyDecisionLog) -> None:
    with pytest.raises(InvalidRecordError, match="surrogate"):
        log.log_decision(make_decision(reasoning="bad \ud800 text"))
    assert log.get_statistics()["total"] == 0


def test_invalid_record_error_is_a_value_error() -> None:
    assert issubclass(InvalidRecordError, ValueError)


# --- reading, newest first -----------------------------------------------------------------------


def _logged(log: PolicyDecisionLog) -> list[PolicyDecision]:
    decisions = []
    for minute in range(12):
        decisions.append(make_decision(
            minute, timestamp=timestamp(minute),
            decision_correct=None if minute % 3 == 0 else minute % 2 == 0))
    log.log_decisions(reversed(decisions))
    return decisions


def test_get_all_decisions_newest_first_with_limit(log: PolicyDecisionLog) -> None:
    decisions = _logged(log)
    newest_first = [d.decision_id for d in reversed(decisions)]
    assert [d.decision_id for d in log.get_all_decisions()] == newest_first
    assert [d.decision_id for d in log.get_all_decisions(limit=3)] == newest_first[:3]
    assert log.get_all_decisions(limit=0) == []


def test_get_unreviewed_decisions(log: PolicyDecisionLog) -> None:
    decisions = _logged(log)
    log.mark_reviewed(decisions[11].decision_id or "")
    log.mark_reviewed(decisions[5].decision_id or "", "deny")
    unreviewed = log.get_unreviewed_decisions()
    expected = [d.decision_id for d in reversed(decisions) if d is not decisions[11]
                and d is not decisions[5]]
    assert [d.decision_id for d in unreviewed] == expected
    assert [d.decision_id for d in log.get_unreviewed_decisions(limit=2)] == expected[:2]
    assert all(not d.reviewed for d in unreviewed)


def test_get_incorrect_decisions(log: PolicyDecisionLog) -> None:
    decisions = _logged(log)
    incorrect = [d.decision_id for d in reversed(decisions) if d.decision_correct is False]
    assert incorrect  # the fixture has some
    assert [d.decision_id for d in log.get_incorrect_decisions()] == incorrect
    assert [d.decision_id for d in log.get_incorrect_decisions(limit=1)] == incorrect[:1]


def test_equal_timestamps_have_a_stable_order(log: PolicyDecisionLog) -> None:
    same = "2026-02-02T08:05:00+00:00"
    ids = [log.log_decision(make_decision(i, timestamp=same)) for i in range(20)]
    assert [d.decision_id for d in log.get_all_decisions()] == sorted(ids, reverse=True)


def test_dataclass_fields_match_the_columns() -> None:
    from policy_desktop.store.schema import ALL_COLUMNS

    assert set(DECISION_FIELDS) == set(ALL_COLUMNS)


# --- statistics --------------------------------------------------------------------------------


def test_statistics_of_an_empty_log(log: PolicyDecisionLog) -> None:
    stats = log.get_statistics()
    assert stats["total"] == stats["reviewed"] == stats["unreviewed"] == 0
    assert stats["corrections"] == 0
    assert stats["accuracy"] is None
    assert stats["decision_distribution"] == {}
    assert stats["corrections_needed"] == 50
    assert stats["training_ready"] is False


def test_statistics_counts(log: PolicyDecisionLog) -> None:
    rows = [
        make_decision(0, decision="allow", decision_correct=True),
        make_decision(1, decision="allow", decision_correct=False),
        make_decision(2, decision="deny", decision_correct=True),
        make_decision(3, decision="deny", decision_correct=None, expected_decision=None),
        make_decision(4, decision="unparseable", decision_correct=False),
        make_decision(5, decision="require_mfa", decision_correct=None, expected_decision=None),
    ]
    ids = [log.log_decision(d) for d in rows]
    log.mark_reviewed(ids[0])  # accept
    log.mark_reviewed(ids[1], "deny")  # correction
    log.mark_reviewed(ids[4], "allow", "A proper reason.")  # correction
    stats = log.get_statistics()
    assert stats["total"] == 6
    assert stats["reviewed"] == 3
    assert stats["unreviewed"] == 3
    assert stats["corrections"] == 2
    assert stats["accuracy"] == pytest.approx(2 / 4)  # None-correctness is not evaluated
    assert stats["decision_distribution"] == {
        "allow": 2, "deny": 2, "unparseable": 1, "require_mfa": 1}
    assert stats["corrections_needed"] == 48
    assert stats["training_ready"] is False


def test_accuracy_is_none_when_nothing_was_evaluated(log: PolicyDecisionLog) -> None:
    log.log_decisions(make_decision(i, decision_correct=None) for i in range(4))
    assert log.get_statistics()["accuracy"] is None


@pytest.mark.parametrize(("corrections", "needed", "ready"),
                         [(49, 1, False), (50, 0, True), (53, 0, True)])
def test_training_gate(log: PolicyDecisionLog, corrections: int, needed: int,
                       ready: bool) -> None:
    decisions = [make_decision(i, decision="allow") for i in range(corrections + 2)]
    log.log_decisions(decisions)
    for decision in decisions[:corrections]:
        log.mark_reviewed(decision.decision_id or "", "deny")
    log.mark_reviewed(decisions[-1].decision_id or "")  # an accept is not a correction
    stats = log.get_statistics()
    assert stats["corrections"] == corrections
    assert stats["corrections_needed"] == needed
    assert stats["training_ready"] is ready


def test_quick_validity_test_is_strict() -> None:
    """The fast path of validation passes plain valid decisions and nothing invalid."""
    from policy_desktop.store.decision import _obviously_valid

    assert _obviously_valid(make_decision().__dict__)
    assert _obviously_valid(make_decision(
        timestamp=timestamp(3), decision_id="dec_x", reviewed=True, review_action="accept",
        review_timestamp="2026-02-03T10:00:00Z", confidence=None, tags=[]).__dict__)
    for overrides, _ in INVALID:
        assert not _obviously_valid(make_decision(**overrides).__dict__), overrides


@pytest.mark.parametrize("situation", [
    {"when": datetime(2026, 2, 2)}, {"score": float("nan")}, {"score": float("inf")},
    {"raw": b"bytes"},
], ids=["datetime", "nan", "inf", "bytes"])
def test_situation_must_be_json(log: PolicyDecisionLog, situation: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError, match="situation cannot be stored as JSON"):
        log.log_decision(make_decision(situation=situation))
    assert log.get_statistics()["total"] == 0
