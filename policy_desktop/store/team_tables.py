"""The review team's tables: claims (leases), reviewers, adjudications, assignments.

Created on first use (``CREATE TABLE IF NOT EXISTS`` inside the store's write
transaction, so two clients set them up once); the decisions schema is unchanged.
"""

from __future__ import annotations

import peewee as pw

TEAM_TABLES: tuple[str, ...] = (
    # One row per (decision, slot): slot 0 is the first review, slot 1 the blind second
    # review of the overlap sample. The primary key is what makes a claim exclusive.
    """CREATE TABLE IF NOT EXISTS review_claims (
        decision_id TEXT NOT NULL REFERENCES decisions (decision_id),
        slot INTEGER NOT NULL,
        reviewer TEXT NOT NULL,
        overlap INTEGER NOT NULL DEFAULT 0,
        claimed DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (decision_id, slot))""",
    "CREATE INDEX IF NOT EXISTS idx_claims_reviewer ON review_claims (reviewer, done)",
    """CREATE TABLE IF NOT EXISTS reviewers (
        name TEXT PRIMARY KEY,
        added TEXT NOT NULL)""",
    # Append-only: the newest adjudication of a decision is the one in effect.
    """CREATE TABLE IF NOT EXISTS adjudications (
        id TEXT PRIMARY KEY,
        decision_id TEXT NOT NULL REFERENCES decisions (decision_id),
        adjudicator TEXT NOT NULL,
        review_decision TEXT NOT NULL,
        timestamp TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS idx_adjudications_decision ON adjudications (decision_id)",
    # A lead's delegation: the filter (JSON of a DecisionFilter) given to one reviewer.
    # ``withdrawn`` is set when it is taken back (the row stays as the record).
    """CREATE TABLE IF NOT EXISTS assignments (
        id TEXT PRIMARY KEY,
        reviewer TEXT NOT NULL,
        filter TEXT NOT NULL,
        assigned_by TEXT NOT NULL,
        created TEXT NOT NULL,
        withdrawn TEXT)""",
    # The decisions an assignment holds, fixed when it was made; the primary key keeps
    # every decision in at most one reviewer's queue.
    """CREATE TABLE IF NOT EXISTS decision_assignments (
        decision_id TEXT PRIMARY KEY REFERENCES decisions (decision_id),
        assignment_id TEXT NOT NULL REFERENCES assignments (id),
        reviewer TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS idx_decision_assignments_reviewer "
    "ON decision_assignments (reviewer)",
    "CREATE INDEX IF NOT EXISTS idx_decision_assignments_assignment "
    "ON decision_assignments (assignment_id)",
)
CORE_TABLES: tuple[str, ...] = ("review_claims", "reviewers", "adjudications")
"""The tables of the first team release (claims, reviewers, adjudications)."""
ASSIGNMENT_TABLES: tuple[str, ...] = ("assignments", "decision_assignments")
TABLE_NAMES: tuple[str, ...] = (*CORE_TABLES, *ASSIGNMENT_TABLES)
ASSIGN_LOCK_KEY = 0x706F6C6963790003
"""PostgreSQL advisory lock: claims hold it shared, a change of assignments exclusively,
so no claim decides on assignments that change while it runs."""


def has_team_tables(database: pw.Database, names: tuple[str, ...] = TABLE_NAMES) -> bool:
    """True when the team tables exist (a database never used by a team has none);
    ``names``: only those (a database from before assignments has the core ones)."""
    return set(names) <= set(database.get_tables())


def create_team_tables(database: pw.Database) -> None:
    """Create the team tables; call inside the store's write transaction."""
    for statement in TEAM_TABLES:
        database.execute_sql(statement)
