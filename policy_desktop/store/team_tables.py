"""The review team's tables: claims (leases), reviewers, adjudications.

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
)
TABLE_NAMES: tuple[str, ...] = ("review_claims", "reviewers", "adjudications")


def has_team_tables(database: pw.Database) -> bool:
    """True when the team tables exist (a database never used by a team has none)."""
    return set(TABLE_NAMES) <= set(database.get_tables())


def create_team_tables(database: pw.Database) -> None:
    """Create the team tables; call inside the store's write transaction."""
    for statement in TEAM_TABLES:
        database.execute_sql(statement)
