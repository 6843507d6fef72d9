"""Replay runs in the store: choose originals, plan, record answers, read the pairs back.

A replay run is a row of ``runs`` plus a row of ``replay_runs`` (what was selected) and
one ``replay_links`` row per original. Each answer is logged as an ordinary decision of
the replay run and linked in the same transaction, so a cancelled or crashed replay
resumes exactly where it stopped and never answers an original twice. Originals are
only ever read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any

from policy_desktop.store.decision import PolicyDecision, now_iso, parse_timestamp
from policy_desktop.store.errors import StoreError
from policy_desktop.store.failures import guarded_method
from policy_desktop.store.log import PolicyDecisionLog, RunRecord
from policy_desktop.store.queries import FAILURES, DecisionFilter, DecisionQueries
from policy_desktop.store.replay_tables import create_replay_tables, has_replay_tables
from policy_desktop.store.run_owner import current_process

_CHUNK = 200  # rows per statement: 800 parameters, far below any backend's limit
_PAGE = 500


class ReplayStateError(StoreError):
    """A replay answer for an original that is not pending in that replay run."""


@dataclass(frozen=True)
class ReplaySelection:
    """Which logged decisions to replay: the table's filter, a time range, the newest N.

    ``since``/``until`` are ISO-8601 instants (inclusive), compared with the stored UTC
    timestamps. Decisions that are themselves replay answers are never selected.
    """

    filter: DecisionFilter = field(default_factory=lambda: DecisionFilter(view="all"))
    since: str | None = None
    until: str | None = None
    limit: int | None = None

    def describe(self) -> dict[str, Any]:
        """The selection as stored with the run (JSON-ready)."""
        flt = self.filter
        return {"view": flt.view, "text": flt.text, "decision": flt.decision,
                "model_name": flt.model_name, "prompt_version": flt.prompt_version,
                "run_id": flt.run_id, "expected": flt.expected,
                "review_action": flt.review_action,
                "decision_ids": None if flt.decision_ids is None else list(flt.decision_ids),
                "pass_coverage": flt.pass_coverage if flt.view == FAILURES else None,
                "since": self.since, "until": self.until, "limit": self.limit}


@dataclass(frozen=True)
class ReplayLink:
    """One original and, once replayed, the replay decision that re-decides it."""

    original_id: str
    position: int
    replay_id: str | None


def utc_instant(text: str) -> str:
    """``text`` as the store's canonical UTC instant (a date alone is its midnight UTC)."""
    moment = parse_timestamp(text if "T" in text or " " in text.strip() else f"{text}T00:00:00")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ReplayStore:
    """The replay runs of one decision log."""

    def __init__(self, log: PolicyDecisionLog) -> None:
        self.log = log
        self._db = log.database
        self._p = self._db.param

    def _tables(self) -> bool:
        return has_replay_tables(self._db)

    # --- choosing ------------------------------------------------------------------------

    @guarded_method
    def select_originals(self, selection: ReplaySelection) -> list[str]:
        """Ids of the decisions ``selection`` chooses, newest first (the table's order)."""
        since = utc_instant(selection.since) if selection.since else None
        until = utc_instant(selection.until) if selection.until else None
        flt = selection.filter
        if flt.sort != "newest":
            flt = replace(flt, sort="newest")
        queries = DecisionQueries(self.log)
        chosen: list[str] = []
        cursor = None
        while selection.limit is None or len(chosen) < selection.limit:
            rows, cursor = queries.page(flt, after=cursor, limit=_PAGE)
            in_range = [row for row in rows
                        if (until is None or row.timestamp <= until)
                        and (since is None or row.timestamp >= since)]
            answers = self.replay_answer_ids([row.decision_id for row in in_range])
            chosen += [row.decision_id for row in in_range if row.decision_id not in answers]
            if cursor is None or (since is not None and rows and rows[-1].timestamp < since):
                break
        return chosen if selection.limit is None else chosen[:selection.limit]

    @guarded_method
    def replay_answer_ids(self, decision_ids: list[str]) -> set[str]:
        """Those of ``decision_ids`` that are replay answers (of any replay run)."""
        found: set[str] = set()
        if not decision_ids or not self._tables():
            return found
        for start in range(0, len(decision_ids), _CHUNK):
            chunk = decision_ids[start:start + _CHUNK]
            marks = ", ".join([self._p] * len(chunk))
            found.update(row[0] for row in self._db.execute_sql(
                f"SELECT replay_id FROM replay_links WHERE replay_id IN ({marks})", tuple(chunk)))
        return found

    # --- planning and recording ----------------------------------------------------------

    @guarded_method
    def create(self, original_ids: list[str], selection: ReplaySelection,
               **run_fields: Any) -> str:
        """Start a replay run of ``original_ids`` (in that order); return its run id."""
        if len(set(original_ids)) != len(original_ids):
            raise ValueError("an original can be replayed only once per replay run")
        with self.log.write_transaction():
            create_replay_tables(self._db)
            run_id = self.log.start_run(**run_fields)
            self._db.execute_sql(
                "INSERT INTO replay_runs (run_id, selection, planned, created) "
                f"VALUES ({self._p}, {self._p}, {self._p}, {self._p})",
                (run_id, json.dumps(selection.describe(), ensure_ascii=False),
                 len(original_ids), now_iso()))
            rows = [(run_id, original_id, position, None)
                    for position, original_id in enumerate(original_ids)]
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start:start + _CHUNK]
                values = ", ".join([f"({self._p}, {self._p}, {self._p}, {self._p})"] * len(chunk))
                self._db.execute_sql(
                    "INSERT INTO replay_links (run_id, original_id, position, replay_id) "
                    f"VALUES {values}", tuple(value for row in chunk for value in row))
        return run_id

    @guarded_method
    def record(self, run_id: str, original_id: str, answer: PolicyDecision) -> str:
        """Log ``answer`` as the replay of ``original_id`` and link it, in one transaction.

        Raises:
            ReplayStateError: the original is not pending in this run (already replayed,
                or not part of it); nothing is logged then.
        """
        with self.log.write_transaction():
            pending = self._db.execute_sql(
                "SELECT COUNT(*) FROM replay_links WHERE run_id = "
                f"{self._p} AND original_id = {self._p} AND replay_id IS NULL",
                (run_id, original_id)).fetchone()[0]
            if not pending:
                raise ReplayStateError(
                    f"{original_id} is not waiting to be replayed in {run_id}")
            answer.run_id = run_id
            decision_id = self.log.log_decision(answer)
            self._db.execute_sql(
                f"UPDATE replay_links SET replay_id = {self._p} WHERE run_id = {self._p} "
                f"AND original_id = {self._p}", (decision_id, run_id, original_id))
        return decision_id

    @guarded_method
    def reopen(self, run_id: str) -> None:
        """Mark a cancelled, failed or interrupted replay ``running`` again, owned by this
        process, to continue it."""
        owner = current_process()
        Run = self.log.models.Run
        with self.log.write_transaction():
            Run.update(status="running", finished=None, error=None, owner_host=owner.host,
                       owner_pid=owner.pid, owner_start=owner.start,
                       heartbeat=now_iso()).where(Run.run_id == run_id).execute()

    # --- reading -------------------------------------------------------------------------

    @guarded_method
    def is_replay(self, run_id: str) -> bool:
        """True when ``run_id`` is a replay run."""
        if not self._tables():
            return False
        return bool(self._db.execute_sql(
            f"SELECT COUNT(*) FROM replay_runs WHERE run_id = {self._p}", (run_id,)).fetchone()[0])

    @guarded_method
    def replay_run_ids(self) -> set[str]:
        """The ids of every replay run (for views that show replays apart)."""
        if not self._tables():
            return set()
        return {row[0] for row in self._db.execute_sql("SELECT run_id FROM replay_runs")}

    @guarded_method
    def replay_runs(self) -> list[RunRecord]:
        """The replay runs, newest first."""
        ids = self.replay_run_ids()
        return [run for run in self.log.list_runs() if run.run_id in ids] if ids else []

    @guarded_method
    def selection(self, run_id: str) -> dict[str, Any]:
        """The stored description of what the replay run selected (empty if not a replay)."""
        if not self._tables():
            return {}
        row = self._db.execute_sql(
            f"SELECT selection FROM replay_runs WHERE run_id = {self._p}", (run_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    @guarded_method
    def links(self, run_id: str) -> list[ReplayLink]:
        """Every original of the replay run in plan order, replayed or not."""
        if not self._tables():
            return []
        return [ReplayLink(original, position, replay) for original, position, replay in
                self._db.execute_sql(
                    "SELECT original_id, position, replay_id FROM replay_links "
                    f"WHERE run_id = {self._p} ORDER BY position", (run_id,))]

    def pending(self, run_id: str) -> list[str]:
        """The originals still to replay, in plan order."""
        return [link.original_id for link in self.links(run_id) if link.replay_id is None]

    def pairs(self, run_id: str) -> Iterator[tuple[PolicyDecision, PolicyDecision]]:
        """(original, replay answer) for every replayed original, in plan order."""
        done = [link for link in self.links(run_id) if link.replay_id is not None]
        for start in range(0, len(done), _CHUNK):
            chunk = done[start:start + _CHUNK]
            found = self.log.get_decisions(
                [link.original_id for link in chunk] + [link.replay_id or "" for link in chunk])
            for link in chunk:
                original, answer = found.get(link.original_id), found.get(link.replay_id or "")
                if original is not None and answer is not None:
                    yield original, answer
