"""SQL conditions on replay answers and on exact decision ids, for queries and statistics.

A replay answer is an ordinary decision whose ``run_id`` is a replay run (a row of
``replay_runs``). A log that never replayed has no replay tables: there is nothing to
leave out then, and nothing here creates them (a read-only log stays untouched).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import peewee as pw

from policy_desktop.store.replay_tables import has_replay_tables

__all__ = ["ids_condition", "replay_condition"]

_REPLAY_RUNS = "(SELECT run_id FROM replay_runs)"


def replay_condition(database: pw.Database, decision: Any, *,
                     replays: bool) -> pw.Node | None:
    """``replays=True``: the decisions of replay runs; False: every other decision (those
    without a run included). None when the log has no replay tables (no condition needed
    for False; for True the caller should select nothing, see :func:`has_replay_tables`).
    """
    if not has_replay_tables(database):
        return None
    run_id = decision.run_id
    if replays:
        return pw.NodeList((run_id, pw.SQL(f"IN {_REPLAY_RUNS}")))
    # NOT IN alone would drop the decisions without a run: NULL NOT IN (...) is NULL.
    return pw.NodeList((pw.SQL("("), run_id, pw.SQL("IS NULL OR"), run_id,
                        pw.SQL(f"NOT IN {_REPLAY_RUNS})")))


def ids_condition(database: pw.Database, column: pw.Field, ids: Sequence[str]) -> pw.Node:
    """``column`` is one of ``ids``, with ONE bound parameter however many ids there are
    (a JSON array unpacked by the database: no 999-variable limit, one cached plan)."""
    payload = json.dumps(list(ids))
    param = database.param
    if isinstance(database, pw.SqliteDatabase):
        unpack = f"IN (SELECT value FROM json_each({param}))"
    else:
        unpack = f"IN (SELECT json_array_elements_text(CAST({param} AS json)))"
    return pw.NodeList((column, pw.SQL(unpack, [payload])))
