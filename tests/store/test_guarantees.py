"""Never lose a decision or a review (issue 11, items 3-7): each defect on real files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from store_helpers import make_decision, raw_query, timestamp

import policy_desktop.store.decision as decision_module
from policy_desktop.store import (
    InvalidRecordError,
    PolicyDecisionLog,
    ReviewConflictError,
)
from policy_desktop.store.jsonl import dump_jsonl, import_jsonl

SCRIPT = Path(sys.executable).parent / "policy-desktop"
VALID = {"timestamp": "2026-02-02T08:05:12+00:00", "situation": {"actor": "ann"},
         "model_name": "gemma", "model_version": "Q4", "prompt_version": "v2",
         "decision": "allow"}


def lines(*records: dict[str, Any] | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def valid(index: int, **extra: Any) -> dict[str, Any]:
    return {**VALID, "situation": {"actor": f"user{index}"}, **extra}


def count(path: Path, where: str = "1") -> int:
    return raw_query(path, f"SELECT COUNT(*) FROM decisions WHERE {where}")[0][0]


# --- 3: one unstorable line never aborts an import -------------------------------------------


def test_unstorable_lines_are_reported_and_every_other_line_stored(db_path: Path) -> None:
    text = (lines(*[valid(i) for i in range(49)])
            + json.dumps(valid(1000)).replace('{"actor": "user1000"}', '{"n": 1e400}') + "\n"
            + lines(valid(2000, prompt_tokens=99999999999999999999))
            + lines(valid(3000, generated_tokens=-(2**63) - 1))
            + lines(*[valid(i) for i in range(100, 200)]))
    with PolicyDecisionLog(db_path) as log:
        result = import_jsonl(log, io.StringIO(text), "big.jsonl")
    assert (result.imported, result.invalid) == (149, 3)
    problems = sorted(result.problems, key=lambda p: p.line)
    assert [str(p).split(": ", 1)[0] for p in problems] == [
        "big.jsonl:50", "big.jsonl:51", "big.jsonl:52"]
    assert "situation cannot be stored as JSON" in problems[0].reason
    assert "prompt_tokens 99999999999999999999 is too large" in problems[1].reason
    assert "generated_tokens" in problems[2].reason
    assert count(db_path) == 149


def test_cli_import_of_an_unstorable_line_names_file_and_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(lines(valid(1), valid(2, prompt_tokens=2**64), valid(3)))
    result = subprocess.run([str(SCRIPT), "--db", str(tmp_path / "x.db"), "import", str(source)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{source}:2: prompt_tokens" in result.stderr
    assert "imported 2, duplicates 0, invalid 1" in result.stdout


@pytest.mark.parametrize("field", ["prompt_tokens", "generated_tokens"])
def test_log_decision_rejects_integers_beyond_64_bits(db_path: Path, field: str) -> None:
    with PolicyDecisionLog(db_path) as log:
        with pytest.raises(InvalidRecordError, match=f"{field} .* too large"):
            log.log_decision(make_decision(**{field: 2**63}))
        assert log.log_decision(make_decision(**{field: 2**63 - 1}))
        assert log.get_statistics()["total"] == 1


# --- 4: ids never collide ----------------------------------------------------------------------


@pytest.fixture
def few_suffixes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Random 8-hex suffixes drawn from five values only: collisions all the time."""
    real = secrets.token_hex
    pool = [f"0000000{i}" for i in range(5)]
    drawn: list[str] = []

    def token_hex(nbytes: int | None = None) -> str:
        if nbytes != 4:
            return real(nbytes)
        value = pool[len(drawn) % len(pool)]
        drawn.append(value)
        return value

    monkeypatch.setattr(secrets, "token_hex", token_hex)
    return drawn


def test_generated_ids_never_collide_within_or_across_batches(db_path: Path,
                                                              few_suffixes: list[str]) -> None:
    with PolicyDecisionLog(db_path) as log:
        first = [make_decision(i, timestamp=timestamp(0, i)) for i in range(12)]
        assert log.log_decisions(first) == 12
        second = [make_decision(100 + i, timestamp=timestamp(0, 30 + i)) for i in range(12)]
        assert log.log_decisions(second) == 12
        one = make_decision(500, timestamp=timestamp(0, 59))
        log.log_decision(one)
    ids = [d.decision_id for d in [*first, *second, one]]
    assert len(set(ids)) == 25
    assert count(db_path) == 25
    assert sorted(r[0] for r in raw_query(db_path, "SELECT decision_id FROM decisions")) == sorted(
        ids)
    assert all(i.startswith("dec_2026-02-02T0800_") for i in ids)
    assert sum(len(i) == len("dec_2026-02-02T0800_") + 8 for i in ids) >= 5  # the usual shape


def test_a_given_id_already_stored_is_still_refused(db_path: Path,
                                                   few_suffixes: list[str]) -> None:
    with PolicyDecisionLog(db_path) as log:
        decision_id = log.log_decision(make_decision(1))
        with pytest.raises(InvalidRecordError, match="already stored"):
            log.log_decision(make_decision(2, decision_id=decision_id))
        assert log.get_statistics()["total"] == 1


_SHA256 = hashlib.sha256


class _ShortDigest:
    """sha256 whose hex digest starts with eight zeros: every 8-hex content id collides."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = _SHA256(data)

    def hexdigest(self) -> str:
        return "00000000" + self._hash.hexdigest()[8:]


def test_content_ids_of_distinct_lines_never_merge(db_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decision_module.hashlib, "sha256", _ShortDigest)
    text = lines(*[valid(i) for i in range(20)])
    with PolicyDecisionLog(db_path) as log:
        first = import_jsonl(log, io.StringIO(text), "a.jsonl")
        assert (first.imported, first.conflicts, first.duplicates) == (20, 0, 0)
        again = import_jsonl(log, io.StringIO(lines(*[valid(i) for i in range(25)])), "b.jsonl")
        assert (again.imported, again.conflicts, again.duplicates) == (5, 0, 20)
    assert count(db_path) == 25
    actors = raw_query(db_path, "SELECT json_extract(situation, '$.actor') FROM decisions")
    assert len({row[0] for row in actors}) == 25


# --- 5: concurrent imports count duplicates exactly ------------------------------------------


def test_two_concurrent_imports_of_overlapping_files(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    PolicyDecisionLog(db).close()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(lines(*[valid(i) for i in range(0, 12_000)]))
    b.write_text(lines(*[valid(i) for i in range(4_000, 16_000)]))
    processes = [subprocess.Popen([str(SCRIPT), "--db", str(db), "import", str(path)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for path in (a, b, a)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    totals = [dict(part.rsplit(" ", 1) for part in out.strip().split(", ")) for out, _ in outputs]
    imported = sum(int(t["imported"]) for t in totals)
    duplicates = sum(int(t["duplicates"]) for t in totals)
    assert imported == 16_000 == count(db)
    assert duplicates == 36_000 - 16_000


# --- 6: undo takes back only the caller's own review -----------------------------------------


def test_undo_does_not_take_back_someone_elses_later_review(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        decision_id = log.log_decision(make_decision(0, decision="allow"))
        log.mark_reviewed(decision_id, "deny", reviewer="ann")
        log.mark_reviewed(decision_id, "require_mfa", reviewer="bob")
        with pytest.raises(ReviewConflictError, match="reviewed since by bob"):
            log.undo_review(decision_id, "ann")
        stored = log.get_decision(decision_id)
        assert stored is not None
        assert (stored.review_decision, stored.reviewer) == ("require_mfa", "bob")
        assert [e.action for e in log.get_review_history(decision_id)] == [
            "correct_decision", "correct_decision"]
        log.undo_review(decision_id, "bob")  # bob's own: fine
        log.mark_reviewed(decision_id, "require_mfa", reviewer="bob")
        restored = log.undo_review(decision_id, "ann", force=True)  # asked explicitly
        assert (restored.review_decision, restored.reviewer) == ("deny", "ann")


# --- 7: reviews on imported lines are merged or reported --------------------------------------


def test_reviewed_copies_of_stored_decisions_merge_their_reviews(tmp_path: Path,
                                                                 db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.log_decisions([make_decision(i, decision="allow", timestamp=timestamp(i))
                           for i in range(6)])
        ids = [d.decision_id or "" for d in log.iter_decisions()]
    copy = tmp_path / "copy.db"
    with PolicyDecisionLog(copy) as other:
        with open(tmp_path / "all.jsonl", "w", encoding="utf-8") as out, \
                PolicyDecisionLog(db_path) as log:
            dump_jsonl(log, out)
        with open(tmp_path / "all.jsonl", "rb") as handle:
            import_jsonl(other, handle, "all.jsonl")
        for decision_id in ids[:4]:
            other.mark_reviewed(decision_id, "deny", "Reviewed elsewhere.", "carol")
        buffer = io.StringIO()
        dump_jsonl(other, buffer)
    with PolicyDecisionLog(db_path) as log:
        log.mark_reviewed(ids[3], "require_mfa", reviewer="dan")  # later than carol's
        result = import_jsonl(log, io.StringIO(buffer.getvalue()), "reviewed.jsonl")
        assert (result.imported, result.duplicates, result.reviews_merged) == (0, 5, 3)
        assert result.conflicts == 1
        assert "reviewed.jsonl:4: conflict" in str(result.problems[0])
        assert "by dan" in str(result.problems[0])
        for decision_id in ids[:3]:
            stored = log.get_decision(decision_id)
            assert stored is not None
            assert (stored.reviewer, stored.review_action, stored.review_decision) == (
                "carol", "correct_both", "deny")
            history = log.get_review_history(decision_id)
            assert [(e.reviewer, e.action) for e in history] == [("carol", "correct_both")]
        assert log.get_statistics()["corrections"] == 4
        again = import_jsonl(log, io.StringIO(buffer.getvalue()), "reviewed.jsonl")
        assert (again.reviews_merged, again.duplicates) == (0, 5)


def test_cli_summary_names_merged_reviews(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    source = tmp_path / "in.jsonl"
    record = valid(1, decision_id="dec_2026-02-02T0805_0000abcd")
    source.write_text(lines(record))
    env = {**os.environ}
    subprocess.run([str(SCRIPT), "--db", str(db), "import", str(source)], check=True, env=env,
                   capture_output=True, timeout=120)
    reviewed = {**record, "reviewed": True, "review_decision": "deny", "reviewer": "eve",
                "review_timestamp": "2026-02-03T08:00:00+00:00"}
    source.write_text(lines(reviewed))
    result = subprocess.run([str(SCRIPT), "--db", str(db), "import", str(source)], text=True,
                            env=env, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "imported 0, duplicates 1, invalid 0, reviews merged 1" in result.stdout
    assert raw_query(db, "SELECT reviewer, review_action FROM decisions") == [
        ("eve", "correct_decision")]


# --- 9: nothing in the input changes silently -------------------------------------------------


def test_unknown_fields_warn_once_per_file_and_duplicate_keys_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "typo.jsonl"
    duplicate = json.dumps(valid(3)).replace('"decision": "allow"',
                                             '"decision": "allow", "decision": "deny"')
    source.write_text(lines(valid(1, reasonig="typo"), valid(2), duplicate,
                            valid(4, reasonig="again", extra=1)))
    result = subprocess.run([str(SCRIPT), "--db", str(tmp_path / "x.db"), "import", str(source)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{source}:3: key 'decision' appears twice in one object (which value is meant is "
        "unclear; the line was not stored)",
        f"{source}: warning: 2 lines had unknown fields, which were not stored: 'reasonig' ×2, "
        "'extra' ×1 (first at lines 1, 4)"]
    assert "imported 3, duplicates 0, invalid 1" in result.stdout
