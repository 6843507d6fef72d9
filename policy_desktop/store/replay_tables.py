"""The replay tables: which runs are replays, and which original each replay answer re-decides.

Created on first use inside the store's write transaction (like the team tables); the
decisions schema is unchanged. A replay's answers are ordinary decisions with
``run_id`` = the replay run; ``replay_links`` ties each to the original it re-decides.
A link with no ``replay_id`` is planned but not yet replayed (what a resume continues).
"""

from __future__ import annotations

import peewee as pw

REPLAY_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS replay_runs (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
        selection TEXT NOT NULL,
        planned INTEGER NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS replay_links (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        original_id TEXT NOT NULL REFERENCES decisions (decision_id),
        position INTEGER NOT NULL,
        replay_id TEXT REFERENCES decisions (decision_id),
        PRIMARY KEY (run_id, original_id))""",
    "CREATE INDEX IF NOT EXISTS idx_replay_links_replay ON replay_links (replay_id)",
    "CREATE INDEX IF NOT EXISTS idx_replay_links_position ON replay_links (run_id, position)",
)
TABLE_NAMES: tuple[str, ...] = ("replay_runs", "replay_links")


def has_replay_tables(database: pw.Database) -> bool:
    """True when the replay tables exist (a database never replayed has none)."""
    return set(TABLE_NAMES) <= set(database.get_tables())


def create_replay_tables(database: pw.Database) -> None:
    """Create the replay tables; call inside the store's write transaction."""
    for statement in REPLAY_TABLES:
        database.execute_sql(statement)
