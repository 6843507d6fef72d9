"""JSONL import and dump: one decision per line, with the column names."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from policy_desktop.store.decision import (
    PolicyDecision,
    content_key,
    decision_from_record,
    derived_decision_id,
)
from policy_desktop.store.errors import InvalidRecordError
from policy_desktop.store.log import PolicyDecisionLog

IMPORT_BATCH = 5_000
DUMP_SELECTIONS = ("all", "unreviewed", "incorrect", "corrections")


@dataclass(frozen=True)
class LineProblem:
    """A line that was not stored, and why."""

    source: str
    line: int
    reason: str
    conflict: bool = False

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass
class ImportResult:
    """What an import did."""

    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    conflicts: int = 0
    problems: list[LineProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no line was invalid or in conflict."""
        return self.invalid == 0 and self.conflicts == 0

    def summary(self) -> str:
        text = f"imported {self.imported}, duplicates {self.duplicates}, invalid {self.invalid}"
        return text + (f", conflicts {self.conflicts}" if self.conflicts else "")


ParsedLine = tuple[int, PolicyDecision | LineProblem]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return raw


def parse_line(text: str) -> PolicyDecision:
    """One JSONL line as a validated decision (id derived from content when absent).

    Raises :class:`InvalidRecordError` with the reason.
    """
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise InvalidRecordError(f"not JSON ({error.msg} at column {error.colno})") from None
    except ValueError as error:  # NaN / Infinity
        raise InvalidRecordError(f"not JSON ({error})") from None
    except RecursionError:
        raise InvalidRecordError("not JSON (nested too deeply)") from None
    decision = decision_from_record(record, check_unicode="\\u" in text)
    if decision.decision_id is None:
        decision.decision_id = derived_decision_id(decision)
    return decision


def _parse_lines(handle: Iterable[str | bytes], source: str) -> Iterator[ParsedLine]:
    for number, raw in enumerate(handle, start=1):
        try:
            text = _decode(raw)
        except UnicodeDecodeError as error:
            yield number, LineProblem(source, number, f"not UTF-8 text ({error.reason} at byte "
                                                      f"{error.start + 1})")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not text.strip():
            continue
        try:
            yield number, parse_line(text)
        except InvalidRecordError as error:
            yield number, LineProblem(source, number, str(error))


def import_jsonl(
    log: PolicyDecisionLog,
    handle: Iterable[str | bytes],
    source: str,
    result: ImportResult | None = None,
    problems_limit: int = 10_000,
    report: Callable[[LineProblem], None] | None = None,
) -> ImportResult:
    """Store every valid line of ``handle``; collect a :class:`LineProblem` for the rest.

    ``handle`` yields lines as text or as UTF-8 bytes (then a line that is not
    UTF-8 is reported, not fatal). Streams in batches (constant memory); blank
    lines are skipped. A line whose id is already stored with the same content
    is a duplicate; with different content a conflict (the stored row is kept).
    Review state on a line is kept, and recorded as one history event, so a dump
    re-imported into an empty database is identical. ``report`` is called with
    each problem as it is found; ``result.problems`` keeps the first
    ``problems_limit``.
    """
    result = result or ImportResult()
    batch: list[tuple[int, PolicyDecision]] = []

    def note(problem: LineProblem) -> None:
        if report is not None:
            report(problem)
        if len(result.problems) < problems_limit:
            result.problems.append(problem)

    def flush() -> None:
        existing = log.get_decisions(d.decision_id for _, d in batch if d.decision_id)
        seen: dict[str, PolicyDecision] = {}
        new: list[PolicyDecision] = []
        for number, decision in batch:
            assert decision.decision_id is not None
            stored = existing.get(decision.decision_id) or seen.get(decision.decision_id)
            if stored is None:
                seen[decision.decision_id] = decision
                new.append(decision)
            elif content_key(stored) == content_key(decision):
                result.duplicates += 1
            else:
                result.conflicts += 1
                note(LineProblem(source, number, f"conflict: {decision.decision_id} is already "
                                 "stored with different content (kept the stored one)", True))
        log.import_decisions(new)
        result.imported += len(new)
        batch.clear()

    for number, item in _parse_lines(handle, source):
        if isinstance(item, LineProblem):
            result.invalid += 1
            note(item)
            continue
        batch.append((number, item))
        if len(batch) >= IMPORT_BATCH:
            flush()
    if batch:
        flush()
    return result


def import_files(log: PolicyDecisionLog, paths: list[Path]) -> ImportResult:
    """Import several JSONL files (``-`` is not handled here) into ``log``."""
    result = ImportResult()
    for path in paths:
        with path.open("rb") as handle:
            import_jsonl(log, handle, str(path), result)
    return result


def dump_jsonl(log: PolicyDecisionLog, out: IO[str], selection: str = "all") -> int:
    """Write decisions as JSON lines (oldest first); return how many were written."""
    if selection not in DUMP_SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}")
    encode = json.JSONEncoder(ensure_ascii=False).encode
    count = 0
    for decision in log.iter_decisions(selection):
        out.write(encode(decision.to_dict()) + "\n")
        count += 1
    return count
