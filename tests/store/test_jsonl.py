"""JSONL import and dump through the store API: validation, duplicates, exact round trips."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import TRICKY_TEXTS, make_decision, raw_rows, timestamp

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store import jsonl as jsonl_module
from policy_desktop.store.jsonl import (
    ImportResult,
    LineProblem,
    dump_jsonl,
    import_files,
    import_jsonl,
)
from policy_desktop.store.schema import ALL_COLUMNS

VALID: dict[str, Any] = {
    "timestamp": "2026-02-02T08:05:12+00:00",
    "situation": {"actor": "ann", "action": "read", "target": "wiki"},
    "model_name": "gemma-3-270m",
    "model_version": "Q4_K_M",
    "prompt_version": "v2",
    "decision": "allow",
}


def line(**changes: Any) -> str:
    """A JSON line: :data:`VALID` with ``changes`` (a value of ``...`` removes the key)."""
    record = {**VALID, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...})


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


def run_import(log: PolicyDecisionLog, text: str, source: str = "in.jsonl") -> ImportResult:
    return import_jsonl(log, io.StringIO(text), source)


def reasons(result: ImportResult) -> list[str]:
    return [str(problem) for problem in result.problems]


# --- validation ----------------------------------------------------------------------------------

INVALID_LINES: list[tuple[str, str]] = [
    ("{not json", "not JSON"),
    ('{"decision": "allow",}', "not JSON"),
    ("[1, 2, 3]", "expected a JSON object, got a list"),
    ('"just a string"', "expected a JSON object, got a string"),
    ("42", "expected a JSON object, got a number"),
    ("null", "expected a JSON object, got null"),
    (line(timestamp=...), "missing required field 'timestamp'"),
    (line(situation=...), "missing required field 'situation'"),
    (line(model_name=...), "missing required field 'model_name'"),
    (line(model_version=...), "missing required field 'model_version'"),
    (line(prompt_version=...), "missing required field 'prompt_version'"),
    (line(decision=...), "missing required field 'decision'"),
    (line(decision=None), "required field 'decision' is null"),
    (line(situation=None), "required field 'situation' is null"),
    (line(decision="maybe"), "decision 'maybe' is not one of"),
    (line(decision="Allow"), "decision 'Allow' is not one of"),
    (line(timestamp="last tuesday"), "timestamp 'last tuesday' is not an ISO-8601 timestamp"),
    (line(timestamp="2026-02-30T10:00:00"), "is not an ISO-8601 timestamp"),
    (line(timestamp=1767225600), "timestamp must be a string, not a number"),
    (line(situation="actor=ann"), "situation must be an object, not a string"),
    (line(situation=[1, 2]), "situation must be an object, not a list"),
    (line(tags="quick"), "tags must be a list of strings"),
    (line(tags=["ok", 3]), "tags must be a list of strings"),
    (line(tags={"a": 1}), "tags must be a list of strings"),
    (line(model_name=7), "model_name must be a string, not a number"),
    (line(reasoning=["a"]), "reasoning must be a string, not a list"),
    (line(decision_correct="yes"), "decision_correct must be true or false"),
    (line(decision_correct=2), "decision_correct must be true or false"),
    (line(reasoning_coverage="0.5"), "reasoning_coverage must be a number"),
    (line(reasoning_coverage=True), "reasoning_coverage must be a number"),
    (line(reasoning_coverage=1.01), "reasoning_coverage must be between 0 and 1"),
    (line(reasoning_coverage=-0.5), "reasoning_coverage must be between 0 and 1"),
    (line(confidence=3), "confidence must be between 0 and 1"),
    (line(prompt_tokens=1.5), "prompt_tokens must be an integer"),
    (line(expected_decision="maybe"), "expected_decision 'maybe' is not one of"),
    (line(review_action="accept"), "review_action is set but reviewed is false"),
    (line(decision_id=""), "decision_id cannot be empty"),
    ('{"reasoning_coverage": NaN, ' + line()[1:], "not JSON (NaN is not JSON)"),
    (line()[:-1] + ', "reasoning": "\\ud800"}', "unpaired surrogate"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID_LINES, ids=lambda v: str(v)[:40])
def test_invalid_line_is_reported_with_its_reason(log: PolicyDecisionLog, text: str,
                                                  reason: str) -> None:
    result = run_import(log, line(scenario_id="first") + "\n" + text + "\n"
                        + line(scenario_id="third") + "\n")
    assert (result.imported, result.duplicates, result.invalid) == (2, 0, 1)
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.source, problem.line) == ("in.jsonl", 2)
    assert str(problem).startswith("in.jsonl:2: ")
    assert reason in problem.reason
    assert "\n" not in str(problem)
    assert not result.ok
    assert log.get_statistics()["total"] == 2


def test_every_invalid_line_is_reported(log: PolicyDecisionLog) -> None:
    texts = [line(scenario_id=str(i)) if i % 3 else "{broken" for i in range(30)]
    result = run_import(log, "\n".join(texts))
    assert result.invalid == 10 and result.imported == 20
    assert [p.line for p in result.problems] == list(range(1, 31, 3))


def test_report_callback_gets_problems_as_they_happen(log: PolicyDecisionLog) -> None:
    seen: list[LineProblem] = []
    result = import_jsonl(log, io.StringIO("x\n" + line() + "\n[]\n"), "f", report=seen.append,
                          problems_limit=1)
    assert [p.line for p in seen] == [1, 3]
    assert [p.line for p in result.problems] == [1]  # the list is capped, the count is not
    assert result.invalid == 2


def test_blank_lines_are_ignored_and_numbering_kept(log: PolicyDecisionLog) -> None:
    text = "\n   \n" + line(scenario_id="a") + "\n\t\n\n{bad\n\n"
    result = run_import(log, text)
    assert (result.imported, result.invalid) == (1, 1)
    assert result.problems[0].line == 6


def test_summary_line() -> None:
    result = ImportResult(imported=3, duplicates=2, invalid=1)
    assert result.summary() == "imported 3, duplicates 2, invalid 1"
    result.conflicts = 4
    assert result.summary() == "imported 3, duplicates 2, invalid 1, conflicts 4"


def test_bytes_lines_bom_and_bad_utf8(log: PolicyDecisionLog) -> None:
    data = ("\ufeff" + line(scenario_id="é") + "\n").encode("utf-8") + b'{"x": "\xff\xfe"}\n'
    data += (line(scenario_id="ok") + "\r\n").encode("utf-8")
    result = import_jsonl(log, io.BytesIO(data), "b.jsonl")
    assert (result.imported, result.invalid) == (2, 1)
    assert str(result.problems[0]).startswith("b.jsonl:2: not UTF-8 text")
    assert {d.scenario_id for d in log.get_all_decisions()} == {"é", "ok"}


def test_unknown_keys_are_stored_without_them_and_warned_about(log: PolicyDecisionLog) -> None:
    result = run_import(log, line(future_field={"x": 1}))
    assert result.imported == 1 and result.ok
    assert result.warnings == ["in.jsonl: warning: 1 line had unknown fields, which were not "
                               "stored: 'future_field' ×1 (first at line 1)"]


def test_streams_in_batches(log: PolicyDecisionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl_module, "IMPORT_BATCH", 7)
    batches: list[int] = []
    original = log.import_decisions

    def counting(decisions: list[Any], reviews: Any = ()) -> None:
        batches.append(len(decisions))
        original(decisions, reviews)

    monkeypatch.setattr(log, "import_decisions", counting)
    result = run_import(log, "\n".join(line(scenario_id=str(i)) for i in range(20)))
    assert result.imported == 20
    assert batches == [7, 7, 6]


# --- duplicates and conflicts ---------------------------------------------------------------------


def test_reimport_adds_nothing(log: PolicyDecisionLog) -> None:
    text = "\n".join([line(decision_id="dec_2026-02-02T0805_00000001"),
                      line(scenario_id="no id given"), line(scenario_id="another", tags=["t"])])
    first = run_import(log, text)
    assert (first.imported, first.duplicates, first.invalid) == (3, 0, 0)
    second = run_import(log, text)
    assert (second.imported, second.duplicates, second.invalid) == (0, 3, 0)
    assert second.ok and second.summary() == "imported 0, duplicates 3, invalid 0"
    assert log.get_statistics()["total"] == 3


def test_derived_ids_follow_the_id_format(log: PolicyDecisionLog) -> None:
    run_import(log, line(timestamp="2026-03-04T05:06:07+00:00"))
    (stored,) = log.get_all_decisions()
    assert stored.decision_id is not None
    assert stored.decision_id.startswith("dec_2026-03-04T0506_")
    run_import(log, line(timestamp="2026-03-04T05:06:07+00:00", reasoning="different"))
    assert len(log.get_all_decisions()) == 2  # different content, different id


def test_duplicate_lines_within_one_file(log: PolicyDecisionLog) -> None:
    result = run_import(log, "\n".join([line()] * 3))
    assert (result.imported, result.duplicates) == (1, 2)


def test_conflict_keeps_the_stored_row(log: PolicyDecisionLog) -> None:
    decision_id = "dec_2026-02-02T0805_0000abcd"
    run_import(log, line(decision_id=decision_id, reasoning="original"))
    result = run_import(log, line(decision_id=decision_id, reasoning="changed") + "\n"
                        + line(decision_id=decision_id, reasoning="original"))
    assert (result.imported, result.duplicates, result.invalid, result.conflicts) == (0, 1, 0, 1)
    assert "conflict" in str(result.problems[0]) and decision_id in str(result.problems[0])
    assert str(result.problems[0]).startswith("in.jsonl:1: ")
    assert not result.ok
    stored = log.get_decision(decision_id)
    assert stored is not None and stored.reasoning == "original"


def test_review_state_differences_are_duplicates_not_conflicts(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(timestamp=timestamp(1)))
    log.mark_reviewed(decision_id, "deny")
    record = make_decision(timestamp=timestamp(1), decision_id=decision_id).to_dict()
    result = run_import(log, json.dumps(record))
    assert (result.duplicates, result.conflicts) == (1, 0)


# --- dump and round trips ------------------------------------------------------------------


def _populate(log: PolicyDecisionLog) -> None:
    decisions = [make_decision(i, decision="allow", timestamp=timestamp(i), run_id=f"run_{i % 2}",
                               prompt_tokens=100 + i, generated_tokens=i, seconds=i / 4,
                               confidence=None if i % 5 == 0 else 0.5)
                 for i in range(12)]
    decisions.append(make_decision(20, decision="unparseable", reasoning=None,
                                   decision_correct=None, expected_decision=None, tags=[]))
    for index, text in enumerate(TRICKY_TEXTS):
        decisions.append(make_decision(
            30 + index, reasoning=text, full_response=text, team_context=text,
            situation={"actor": text, "nested": {text[:40]: [text]}}, tags=[text]))
    log.log_decisions(decisions)
    ids = [d.decision_id or "" for d in decisions]
    log.mark_reviewed(ids[0])
    log.mark_reviewed(ids[1], "deny", reviewer="ann")
    log.mark_reviewed(ids[2], None, TRICKY_TEXTS[2], reviewer=TRICKY_TEXTS[3])
    log.mark_reviewed(ids[3], "require_mfa", "Both changed.")
    log.mark_reviewed(ids[4], "deny")
    log.undo_review(ids[4])
    log.mark_reviewed(ids[-1], "allow", TRICKY_TEXTS[-1])


def test_dump_lines_use_the_column_names(log: PolicyDecisionLog) -> None:
    _populate(log)
    out = io.StringIO()
    count = dump_jsonl(log, out)
    lines = out.getvalue().splitlines()
    assert count == len(lines) == 12 + 1 + len(TRICKY_TEXTS) == 21
    records = [json.loads(text) for text in lines]
    assert all(set(record) == set(ALL_COLUMNS) for record in records)
    assert all(isinstance(r["situation"], dict) and isinstance(r["tags"], list) for r in records)
    assert all(isinstance(r["reviewed"], bool) for r in records)
    assert {r["decision_correct"] for r in records} == {True, False, None}
    assert '"reviewed": true' in out.getvalue() and '"reviewed": false' in out.getvalue()
    timestamps = [r["timestamp"] for r in records]
    assert timestamps == sorted(timestamps)  # oldest first


@pytest.mark.parametrize(("selection", "expected"),
                         [("unreviewed", 16), ("corrections", 4), ("incorrect", 15)])
def test_dump_selections(log: PolicyDecisionLog, selection: str, expected: int) -> None:
    _populate(log)
    out = io.StringIO()
    dump_jsonl(log, out, selection)
    records = [json.loads(text) for text in out.getvalue().splitlines()]
    assert len(records) == expected
    if selection == "unreviewed":
        assert not any(r["reviewed"] for r in records)
    elif selection == "corrections":
        assert {r["review_action"] for r in records} <= {
            "correct_decision", "correct_reasoning", "correct_both"}
    else:
        assert all(r["decision_correct"] is False for r in records)


def test_dump_then_import_reproduces_every_row(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    with PolicyDecisionLog(source) as log:
        _populate(log)
        out = io.StringIO()
        dump_jsonl(log, out)
    dump_file = tmp_path / "dump.jsonl"
    dump_file.write_text(out.getvalue(), encoding="utf-8")
    with PolicyDecisionLog(target) as log:
        result = import_files(log, [dump_file])
        assert (result.imported, result.invalid, result.conflicts) == (21, 0, 0)
        again = io.StringIO()
        dump_jsonl(log, again)
        assert again.getvalue() == out.getvalue()
        stats = log.get_statistics()
    assert raw_rows(target) == raw_rows(source)  # every column of every row
    with PolicyDecisionLog(source) as log:
        assert log.get_statistics() == stats
    with PolicyDecisionLog(target) as log:  # imported reviews can be undone like any other
        corrected = next(d for d in log.get_corrections() if d.review_decision == "deny")
        restored = log.undo_review(corrected.decision_id or "")
        assert restored.reviewed is False


def test_tricky_text_survives_dump_and_import(tmp_path: Path) -> None:
    with PolicyDecisionLog(tmp_path / "a.db") as log:
        for text in TRICKY_TEXTS:
            log.log_decision(make_decision(reasoning=text, situation={"k": text}, tags=[text]))
        out = io.StringIO()
        dump_jsonl(log, out)
    with PolicyDecisionLog(tmp_path / "b.db") as log:
        import_jsonl(log, io.StringIO(out.getvalue()), "dump")
        stored = {d.reasoning for d in log.get_all_decisions()}
        assert stored == set(TRICKY_TEXTS)
        assert all(d.situation == {"k": d.reasoning} and d.tags == [d.reasoning]
                   for d in log.get_all_decisions())


def test_import_of_reviewed_lines_records_history(log: PolicyDecisionLog) -> None:
    text = line(reviewed=True, review_decision="deny", review_reasoning="No.",
                review_timestamp="2026-02-03T10:00:00+00:00", reviewer="ann")
    run_import(log, text)
    (stored,) = log.get_all_decisions()
    assert stored.review_action == "correct_both"
    history = log.get_review_history(stored.decision_id or "")
    assert [(e.action, e.reviewer, e.timestamp) for e in history] == [
        ("correct_both", "ann", "2026-02-03T10:00:00+00:00")]
    assert log.get_statistics()["corrections"] == 1


def test_dump_rejects_unknown_selection(log: PolicyDecisionLog) -> None:
    with pytest.raises(ValueError, match="unknown selection"):
        dump_jsonl(log, io.StringIO(), "everything")
