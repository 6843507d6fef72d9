"""Reviewers' classification and risk level, and a review's comment (schema version 4).

The model's labels belong to the decision it chose: after a decision correction they stand
only when the reviewer gives them again; the reviewer's own labels win when given.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import peewee as pw
import pytest
from store_helpers import make_decision, raw_query

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.errors import InvalidRecordError
from policy_desktop.store.jsonl import dump_jsonl, import_jsonl
from policy_desktop.store.schema import REVIEW_EVENT_COLUMNS, REVIEW_LABEL_COLUMNS, SCHEMA_VERSION

MODEL_LABELS = ("destructive_admin_action", "high")


def _log_one(log: PolicyDecisionLog, index: int = 0) -> str:
    return log.log_decision(make_decision(
        index, decision="deny", classification=MODEL_LABELS[0], risk_level=MODEL_LABELS[1],
        reasoning="Writes to the docs are destructive."))


def _columns(log: PolicyDecisionLog, table: str) -> list[str]:
    return [column.name for column in log.database.get_columns(table)]


def _make_version_3(log: PolicyDecisionLog) -> None:
    """Turn a new database back into schema version 3 (the columns 4 added dropped)."""
    database = log.database
    for table, names in (("decisions", REVIEW_LABEL_COLUMNS), ("reviews", REVIEW_EVENT_COLUMNS)):
        for name in names:
            database.execute_sql(f'ALTER TABLE {table} DROP COLUMN "{name}"')
    log.models.Meta.update(value="3").where(log.models.Meta.key == "schema_version").execute()


def test_a_new_database_has_the_label_and_comment_columns(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        assert SCHEMA_VERSION == 4
        assert set(REVIEW_LABEL_COLUMNS) <= set(_columns(log, "decisions"))
        assert set(REVIEW_EVENT_COLUMNS) <= set(_columns(log, "reviews"))
        meta = log.models.Meta
        assert meta.get(meta.key == "schema_version").value == "4"


def test_version_3_database_is_upgraded_in_place(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        log.mark_reviewed(decision_id, "allow", None, "ann")
        _make_version_3(log)
        assert "review_risk_level" not in _columns(log, "decisions")
    with PolicyDecisionLog(store_location) as log:
        assert set(REVIEW_LABEL_COLUMNS) <= set(_columns(log, "decisions"))
        assert set(REVIEW_EVENT_COLUMNS) <= set(_columns(log, "reviews"))
        meta = log.models.Meta
        assert meta.get(meta.key == "schema_version").value == "4"
        stored = log.get_decision(decision_id)
        assert stored is not None and stored.review_action == "correct_decision"
        assert (stored.review_classification, stored.review_risk_level) == (None, None)
        [event] = log.get_review_history(decision_id)
        assert (event.review_classification, event.review_risk_level, event.comment) == (
            None, None, None)
        # The old correction has no labels: training data gets none, not the model's.
        assert (stored.final_classification, stored.final_risk_level) == (None, None)
        log.mark_reviewed(decision_id, "allow", reviewer="ann", review_risk_level="low")
        assert log.get_decision(decision_id).final_risk_level == "low"  # type: ignore[union-attr]


def test_version_3_file_is_backed_up_before_the_upgrade(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        _log_one(log)
        _make_version_3(log)
    import sqlite3

    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    before = db_path.read_bytes()
    with PolicyDecisionLog(db_path) as log:
        assert log.backup_path is not None and log.backup_path.read_bytes() == before
        assert log.backup_path.name.startswith(f"{db_path.name}.v3-")
    assert raw_query(db_path, "SELECT value FROM store_meta WHERE key = 'schema_version'") == [
        ("4",)]
    backup_columns = [row[1] for row in raw_query(log.backup_path, "PRAGMA table_info(reviews)")]
    assert "comment" not in backup_columns


@pytest.mark.parametrize(("given", "expected"), [
    ({}, (None, None)),  # a decision correction alone: the model's labels do not stand
    ({"review_classification": "routine_docs_write", "review_risk_level": "low"},
     ("routine_docs_write", "low")),
    ({"review_classification": MODEL_LABELS[0], "review_risk_level": MODEL_LABELS[1]},
     MODEL_LABELS),  # re-confirmed by choosing the model's values
    ({"review_risk_level": "medium"}, (None, "medium")),
    ({"review_classification": "  docs_write  "}, ("docs_write", None)),
    ({"review_classification": "   "}, (None, None)),  # blank = not given
])
def test_final_labels_after_a_decision_correction(store_location: str, given: dict[str, str],
                                                  expected: tuple[str | None, str | None]
                                                  ) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        assert log.mark_reviewed(decision_id, "allow", None, "ann", **given) == "correct_decision"
        stored = log.get_decision(decision_id)
        assert stored is not None
        assert (stored.final_classification, stored.final_risk_level) == expected
        [event] = log.get_review_history(decision_id)
        assert (event.review_classification, event.review_risk_level) == (
            stored.review_classification, stored.review_risk_level)
        assert (stored.classification, stored.risk_level) == MODEL_LABELS  # never modified


@pytest.mark.parametrize(("decision", "reasoning"), [
    (None, None),  # accept
    ("deny", None),  # the model's own decision: an accept
    (None, "A better reason for deny."),  # reasoning-only correction: the decision stands
])
def test_the_model_s_labels_stand_while_its_decision_stands(
        store_location: str, decision: str | None, reasoning: str | None) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        log.mark_reviewed(decision_id, decision, reasoning, "ann")
        stored = log.get_decision(decision_id)
        assert stored is not None and not stored.decision_corrected
        assert (stored.final_classification, stored.final_risk_level) == MODEL_LABELS
        log.mark_reviewed(decision_id, decision, reasoning, "ann", review_risk_level="critical")
        stored = log.get_decision(decision_id)
        assert stored is not None
        assert (stored.final_classification, stored.final_risk_level) == (
            MODEL_LABELS[0], "critical")


def test_a_risk_level_outside_the_vocabulary_is_refused(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        with pytest.raises(InvalidRecordError, match="review_risk_level 'severe'"):
            log.mark_reviewed(decision_id, "allow", reviewer="ann", review_risk_level="severe")
        with pytest.raises(InvalidRecordError, match="review_classification must be text"):
            log.mark_reviewed(decision_id, "allow", reviewer="ann",
                              review_classification=3)  # type: ignore[arg-type]
        assert log.get_review_history(decision_id) == []
        assert not log.get_decision(decision_id).reviewed  # type: ignore[union-attr]


def test_undo_restores_the_previous_review_s_labels(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        log.mark_reviewed(decision_id, "allow", None, "ann", review_classification="docs_write",
                          review_risk_level="low", comment="  routine docs edit ")
        log.mark_reviewed(decision_id, "require_mfa", None, "bob", review_risk_level="medium")
        stored = log.get_decision(decision_id)
        assert stored is not None
        assert (stored.review_classification, stored.review_risk_level) == (None, "medium")
        undone = log.undo_review(decision_id, "bob")
        assert (undone.review_decision, undone.review_classification,
                undone.review_risk_level) == ("allow", "docs_write", "low")
        assert (undone.final_classification, undone.final_risk_level) == ("docs_write", "low")
        back = log.undo_review(decision_id, "ann")
        assert not back.reviewed
        assert (back.review_classification, back.review_risk_level) == (None, None)
        assert (back.final_classification, back.final_risk_level) == MODEL_LABELS
        history = log.get_review_history(decision_id)
        assert [(e.action, e.review_classification, e.review_risk_level, e.comment)
                for e in history] == [
            ("correct_decision", "docs_write", "low", "routine docs edit"),
            ("correct_decision", None, "medium", None),
            ("undo", None, None, None), ("undo", None, None, None)]
        assert log.last_review() is None


def test_a_comment_is_kept_with_its_review_event_only(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        log.mark_reviewed(decision_id, reviewer="ann", comment="<b>looks</b> fine\nto me")
        log.mark_reviewed(decision_id, reviewer="ann", comment="   ")
        first, second = log.get_review_history(decision_id)
        assert (first.comment, second.comment) == ("<b>looks</b> fine\nto me", None)


def test_jsonl_round_trip_carries_the_labels(store_location: str, tmp_path: Path) -> None:
    with PolicyDecisionLog(store_location) as log:
        corrected = _log_one(log, 0)
        accepted = _log_one(log, 1)
        log.mark_reviewed(corrected, "allow", None, "ann", review_classification="docs_write",
                          review_risk_level="low")
        log.mark_reviewed(accepted, reviewer="ann")
        out = io.StringIO()
        assert dump_jsonl(log, out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_id = {line["decision_id"]: line for line in lines}
    assert (by_id[corrected]["review_classification"], by_id[corrected]["review_risk_level"]) == (
        "docs_write", "low")
    assert by_id[accepted]["review_risk_level"] is None
    with PolicyDecisionLog(tmp_path / "copy.db") as copy:
        result = import_jsonl(copy, io.StringIO(out.getvalue()), "dump.jsonl")
        assert (result.imported, result.invalid) == (2, 0)
        again = copy.get_decision(corrected)
        assert again is not None
        assert (again.review_classification, again.review_risk_level) == ("docs_write", "low")
        [event] = copy.get_review_history(corrected)
        assert (event.review_classification, event.review_risk_level) == ("docs_write", "low")
        again_out = io.StringIO()
        dump_jsonl(copy, again_out)
    assert again_out.getvalue() == out.getvalue()


def test_an_older_dump_without_the_label_keys_still_imports(db_path: Path) -> None:
    record = make_decision(3, decision="deny", decision_id="dec_2026-02-02T0800_0000abcd",
                           timestamp="2026-02-02T08:00:00.000000+00:00").to_dict()
    record.update(reviewed=True, review_decision="allow", review_action="correct_decision",
                  reviewer="ann", review_timestamp="2026-02-02T09:00:00.000000+00:00")
    for name in REVIEW_LABEL_COLUMNS:
        del record[name]
    with PolicyDecisionLog(db_path) as log:
        result = import_jsonl(log, [json.dumps(record)], "old.jsonl")
        assert (result.imported, result.invalid, result.warnings) == (1, 0, [])
        stored = log.get_decision(record["decision_id"])
        assert stored is not None and stored.review_action == "correct_decision"
        assert (stored.final_classification, stored.final_risk_level) == (None, None)


def test_import_checks_the_labels(db_path: Path) -> None:
    base = make_decision(5, decision_id="dec_2026-02-02T0800_0000beef",
                         timestamp="2026-02-02T08:00:00.000000+00:00").to_dict()
    bad_level = {**base, "reviewed": True, "review_action": "accept",
                 "review_risk_level": "extreme"}
    unreviewed = {**base, "decision_id": "dec_2026-02-02T0800_0000bee2",
                  "review_classification": "x"}
    with PolicyDecisionLog(db_path) as log:
        result = import_jsonl(log, [json.dumps(bad_level), json.dumps(unreviewed)], "in.jsonl")
        assert (result.imported, result.invalid) == (0, 2)
        reasons = [problem.reason for problem in result.problems]
        assert "review_risk_level 'extreme' is not one of low, medium, high, critical" in reasons[0]
        assert reasons[1] == "review_classification is set but reviewed is false"


def test_a_later_review_on_a_duplicate_line_merges_its_labels(store_location: str) -> None:
    with PolicyDecisionLog(store_location) as log:
        decision_id = _log_one(log)
        stored = log.get_decision(decision_id)
        assert stored is not None
        line = stored.to_dict()
        line.update(reviewed=True, review_decision="allow", review_action="correct_decision",
                    reviewer="bob", review_timestamp="2030-01-01T00:00:00.000000+00:00",
                    review_classification="docs_write", review_risk_level="low")
        result = import_jsonl(log, [json.dumps(line)], "merge.jsonl")
        assert result.reviews_merged == 1
        merged = log.get_decision(decision_id)
        assert merged is not None
        assert (merged.final_classification, merged.final_risk_level) == ("docs_write", "low")
        [event] = log.get_review_history(decision_id)
        assert (event.reviewer, event.review_risk_level) == ("bob", "low")


def test_the_seed_s_21_columns_are_unchanged(store_location: str) -> None:
    from policy_desktop.store.schema import SEED_COLUMNS

    with PolicyDecisionLog(store_location) as log:
        assert _columns(log, "decisions")[:21] == list(SEED_COLUMNS)
        assert not set(REVIEW_LABEL_COLUMNS) & set(SEED_COLUMNS)
        assert isinstance(log.database, pw.Database)


def test_known_classifications_are_the_model_s_and_the_reviewers_by_frequency(
        store_location: str) -> None:
    from policy_desktop.store.labels import known_classifications

    with PolicyDecisionLog(store_location) as log:
        assert known_classifications(log) == []
        ids = [log.log_decision(make_decision(i, classification=name))
               for i, name in enumerate(["b_read", "b_read", "a_write", None, "  "])]
        log.mark_reviewed(ids[3], "allow", reviewer="ann", review_classification="c_admin")
        log.mark_reviewed(ids[4], "allow", reviewer="ann", review_classification="a_write")
        assert known_classifications(log) == ["a_write", "b_read", "c_admin"]
        assert known_classifications(log, limit=1) == ["a_write"]
