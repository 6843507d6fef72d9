"""JSONL import and dump: one decision per line, with the column names."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from policy_desktop.store.decision import (
    DECISION_FIELDS,
    PolicyDecision,
    content_key,
    decision_from_record,
    derive_review_action,
    derived_decision_id,
    derived_id_candidates,
    parse_timestamp,
)
from policy_desktop.store.errors import InvalidRecordError
from policy_desktop.store.failures import translated
from policy_desktop.store.log import DUMP_SELECTIONS, PolicyDecisionLog

IMPORT_BATCH = 5_000


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
    """What an import did.

    ``reviews_merged`` counts reviews on lines of stored decisions that were added
    to those decisions' history; ``warnings`` holds one line per file about input
    that was stored but not in full (unknown fields, which are ignored).
    """

    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    conflicts: int = 0
    reviews_merged: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no line was invalid or in conflict."""
        return self.invalid == 0 and self.conflicts == 0

    def summary(self) -> str:
        text = f"imported {self.imported}, duplicates {self.duplicates}, invalid {self.invalid}"
        if self.reviews_merged:
            text += f", reviews merged {self.reviews_merged}"
        return text + (f", conflicts {self.conflicts}" if self.conflicts else "")


@dataclass
class ParsedLine:
    """A valid line: its decision, whether the id was derived from content, unknown keys."""

    number: int
    decision: PolicyDecision
    derived: bool = False
    unknown: tuple[str, ...] = ()


class _DuplicateKeyError(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        names = [name for name, _ in pairs]
        repeated = next(name for name in names if names.count(name) > 1)
        raise _DuplicateKeyError(repeated)
    return record


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return raw


_KNOWN_FIELDS = frozenset(DECISION_FIELDS)


def parse_record(text: str, number: int = 0) -> ParsedLine:
    """One JSONL line as a validated decision (id derived from content when absent).

    A key given twice is an error (JSON parsers would silently keep one value);
    unknown keys are returned in ``unknown`` (they are not stored). Raises
    :class:`InvalidRecordError` with the reason.
    """
    try:
        record = json.loads(text, parse_constant=_reject_constant,
                            object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as error:
        raise InvalidRecordError(f"not JSON ({error.msg} at column {error.colno})") from None
    except _DuplicateKeyError as error:
        raise InvalidRecordError(
            f"key {str(error)!r} appears twice in one object (which value is meant is "
            "unclear; the line was not stored)") from None
    except ValueError as error:  # NaN / Infinity
        raise InvalidRecordError(f"not JSON ({error})") from None
    except RecursionError:
        raise InvalidRecordError("not JSON (nested too deeply)") from None
    decision = decision_from_record(record, check_unicode="\\u" in text)
    unknown = tuple(sorted(record.keys() - _KNOWN_FIELDS))
    derived = decision.decision_id is None
    if derived:
        decision.decision_id = derived_decision_id(decision)
    return ParsedLine(number, decision, derived, unknown)


def parse_line(text: str) -> PolicyDecision:
    """One JSONL line as a validated decision (see :func:`parse_record`)."""
    return parse_record(text).decision


def _parse_lines(handle: Iterable[str | bytes], source: str,
                 ) -> Iterator[ParsedLine | LineProblem]:
    for number, raw in enumerate(handle, start=1):
        try:
            text = _decode(raw)
        except UnicodeDecodeError as error:
            yield LineProblem(source, number, f"not UTF-8 text ({error.reason} at byte "
                                              f"{error.start + 1})")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not text.strip():
            continue
        try:
            yield parse_record(text, number)
        except InvalidRecordError as error:
            yield LineProblem(source, number, str(error))


class _UnknownFields:
    """Unknown keys seen in one file, for its warning line."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines = 0
        self.first: list[int] = []

    def add(self, line: ParsedLine) -> None:
        if not line.unknown:
            return
        self.lines += 1
        if len(self.first) < 5:
            self.first.append(line.number)
        for name in line.unknown:
            self.counts[name] = self.counts.get(name, 0) + 1

    def warning(self, source: str) -> str | None:
        if not self.lines:
            return None
        names = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{name!r} ×{count}" for name, count in names[:8])
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        lines = ", ".join(map(str, self.first)) + (", …" if self.lines > len(self.first) else "")
        plural = "s" if self.lines != 1 else ""
        return (f"{source}: warning: {self.lines} line{plural} had unknown fields, which were "
                f"not stored: {shown}{more} (first at line{plural} {lines})")


REVIEW_FIELDS: tuple[str, ...] = (
    "reviewed", "review_decision", "review_reasoning", "review_timestamp", "reviewer",
    "review_action", "review_classification", "review_risk_level",
)  # fmt: skip
"""A line's review state: merged into a stored decision's history as one event."""
_COMPARED = tuple(name for name in REVIEW_FIELDS if name not in ("reviewed", "review_timestamp"))


def _same_review(a: PolicyDecision, b: PolicyDecision) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in _COMPARED)


def _later(line: PolicyDecision, stored: PolicyDecision) -> bool:
    """True when the line's review was made after the stored one."""
    try:
        return parse_timestamp(line.review_timestamp or "") > parse_timestamp(
            stored.review_timestamp or "")
    except (ValueError, TypeError):  # a missing time or naive vs aware: cannot tell
        return False


class _BatchImport:
    """Sorts one batch into new decisions, duplicates, merged reviews and problems.

    Runs inside the write transaction, so concurrent imports see each other's rows
    and count duplicates exactly as sequential imports do.
    """

    def __init__(self, log: PolicyDecisionLog, source: str) -> None:
        self.log = log
        self.source = source
        self.new: list[PolicyDecision] = []
        self.reviews: list[PolicyDecision] = []
        self.duplicates = 0
        self.problems: list[LineProblem] = []
        self._pending: dict[str, PolicyDecision] = {}
        self._stored: dict[str, PolicyDecision] = {}
        self._looked_up: set[str] = set()

    def run(self, lines: list[ParsedLine]) -> None:
        ids = [line.decision.decision_id or "" for line in lines]
        self._stored = self.log.get_decisions(ids)
        self._looked_up = set(ids)
        for line in lines:
            self._place(line)

    def _lookup(self, decision_id: str) -> tuple[PolicyDecision | None, bool]:
        """The decision with this id (stored or earlier in the batch), and if it is stored."""
        if decision_id in self._pending:
            return self._pending[decision_id], False
        if decision_id not in self._looked_up:  # a longer content id: rare
            self._looked_up.add(decision_id)
            self._stored.update(self.log.get_decisions([decision_id]))
        found = self._stored.get(decision_id)
        return found, found is not None

    def _place(self, line: ParsedLine) -> None:
        decision = line.decision
        candidates = derived_id_candidates(decision) if line.derived else [decision.decision_id]
        for candidate in candidates:
            assert candidate is not None
            decision.decision_id = candidate
            other, stored = self._lookup(candidate)
            if other is None:
                self._pending[candidate] = decision
                self.new.append(decision)
                return
            if content_key(other) == content_key(decision):
                self._duplicate(line, other, stored)
                return
            if not line.derived:
                break
        self.problems.append(LineProblem(
            self.source, line.number, f"conflict: {decision.decision_id} is already stored "
            "with different content (kept the stored one)", True))

    def _duplicate(self, line: ParsedLine, other: PolicyDecision, stored: bool) -> None:
        decision = line.decision
        self.duplicates += 1
        if decision.reviewed and decision.review_action is None:
            decision.review_action = derive_review_action(
                decision.decision, decision.reasoning, decision.review_decision,
                decision.review_reasoning)
        if not decision.reviewed or (other.reviewed and _same_review(decision, other)):
            return
        if other.reviewed and not _later(decision, other):
            self.duplicates -= 1
            who = other.reviewer or "an unnamed reviewer"
            self.problems.append(LineProblem(
                self.source, line.number, f"conflict: {decision.decision_id} is stored with a "
                f"later or different review (by {who}, {other.review_timestamp}); this line's "
                f"review ({decision.review_action} by {decision.reviewer or 'no name'}, "
                f"{decision.review_timestamp}) was not merged", True))
            return
        for name in REVIEW_FIELDS:
            setattr(other, name, getattr(decision, name))
        if stored:
            self.reviews.append(decision)


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
    A line without an id gets one derived from its content; distinct contents
    never share one (a longer digest is used when the short one is taken).
    Review state on a line is kept, and recorded as one history event, so a dump
    re-imported into an empty database is identical; the review on a duplicate
    of a stored decision is appended to its history when the stored decision is
    unreviewed or reviewed earlier, and reported otherwise. Every line that cannot
    be stored is reported as ``FILE:LINE: reason`` and the others are stored.
    ``report`` is called with each problem as it is found; ``result.problems``
    keeps the first ``problems_limit``; unknown fields give one line in
    ``result.warnings``.
    """
    result = result or ImportResult()
    batch: list[ParsedLine] = []
    unknown = _UnknownFields()

    def note(problem: LineProblem) -> None:
        if report is not None:
            report(problem)
        if len(result.problems) < problems_limit:
            result.problems.append(problem)

    def flush() -> None:
        storable: list[ParsedLine] = []
        for line in batch:
            try:
                log.prepare_row(line.decision)
            except InvalidRecordError as error:
                result.invalid += 1
                note(LineProblem(source, line.number, str(error)))
                continue
            storable.append(line)
        with translated(lambda: log.display_name), log.write_transaction():
            sorted_batch = _BatchImport(log, source)
            sorted_batch.run(storable)
            log.import_decisions(sorted_batch.new, sorted_batch.reviews)
        result.imported += len(sorted_batch.new)
        result.duplicates += sorted_batch.duplicates
        result.reviews_merged += len(sorted_batch.reviews)
        for problem in sorted_batch.problems:
            result.conflicts += 1
            note(problem)
        batch.clear()

    for item in _parse_lines(handle, source):
        if isinstance(item, LineProblem):
            result.invalid += 1
            note(item)
            continue
        unknown.add(item)
        batch.append(item)
        if len(batch) >= IMPORT_BATCH:
            flush()
    if batch:
        flush()
    warning = unknown.warning(source)
    if warning is not None:
        result.warnings.append(warning)
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
