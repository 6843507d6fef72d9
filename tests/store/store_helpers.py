"""Shared builders for the decision-store tests: decisions, raw rows, the seed's schema."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.schema import STORED_COLUMNS

ID_PATTERN = r"dec_\d{4}-\d{2}-\d{2}T\d{4}_[0-9a-f]{8}"
"""``dec_`` + the decision's timestamp to the minute + ``_`` + 8 lowercase hex digits."""

# The seed's table and indexes, verbatim (phase3_decision_logging.md).
SEED_DDL = """
CREATE TABLE decisions (
    decision_id TEXT PRIMARY KEY,
    timestamp TEXT NOT NULL,
    situation TEXT NOT NULL,           -- JSON
    team_context TEXT,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    decision TEXT NOT NULL,
    classification TEXT,
    risk_level TEXT,
    reasoning TEXT,
    full_response TEXT,
    expected_decision TEXT,
    decision_correct INTEGER,
    reasoning_coverage REAL,
    reviewed INTEGER DEFAULT 0,
    review_decision TEXT,
    review_reasoning TEXT,
    review_timestamp TEXT,
    scenario_id TEXT,
    tags TEXT
);
CREATE INDEX idx_timestamp ON decisions(timestamp);
CREATE INDEX idx_reviewed ON decisions(reviewed);
CREATE INDEX idx_decision_correct ON decisions(decision_correct);
"""

START = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)

TRICKY_TEXTS: tuple[str, ...] = (
    "it's \"quoted\" and 'single-quoted'",
    "<script>alert('x')</script> &amp; <b>bold</b>",
    "'); DROP TABLE decisions;--",
    "Grüße, 日本語, emoji 🔐, right-to-left עברית",
    "line one\nline two\r\n\ttabbed \\ backslash",
    "100% _wild_ cards % _",
    "x" * 20_000,
    "é" * 10_000 + "🔐" * 2_000,
)
"""Texts that must come back exactly as stored (the two long ones are about 20 KB)."""


def make_decision(index: int = 0, **overrides: Any) -> PolicyDecision:
    """A realistic decision; ``index`` varies the situation, keyword arguments override."""
    values: dict[str, Any] = {
        "situation": {
            "actor": f"user{index}@example.com",
            "action": "read" if index % 2 == 0 else "write",
            "target": f"repo/service-{index % 7}/config.yaml",
            "context": {"mfa": index % 3 == 0, "location": "office", "hour": index % 24},
        },
        "team_context": "platform team, on call",
        "model_name": "gemma-3-270m",
        "model_version": "Q4_K_M",
        "prompt_version": "v2",
        "decision": ("allow", "deny", "require_mfa", "require_attestation")[index % 4],
        "classification": "internal",
        "risk_level": ("low", "medium", "high", "critical")[index % 4],
        "reasoning": f"Reasoning number {index}: the policy says so.",
        "full_response": f"DECISION: allow\nREASONING: number {index}",
        "expected_decision": "allow",
        "decision_correct": index % 4 == 0,
        "reasoning_coverage": 0.75,
        "scenario_id": f"E{index % 10:02d}",
        "tags": ["quick", f"batch-{index // 10}"],
        "confidence": 0.5 + (index % 5) / 10,
    }
    values.update(overrides)
    return PolicyDecision(**values)


def timestamp(minute: int, second: int = 0) -> str:
    """A fixed UTC timestamp ``minute`` minutes after 2026-02-02 08:00."""
    moment = START + timedelta(minutes=minute, seconds=second)
    return moment.isoformat(timespec="microseconds")


def raw_rows(path: Path, table: str = "decisions",
             order: str = "decision_id") -> list[dict[str, Any]]:
    """Every row of ``table`` read with plain sqlite3 (no store code involved)."""
    connection = sqlite3.connect(path)
    try:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    finally:
        connection.close()


def raw_query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on ``path`` with plain sqlite3."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def create_seed_database(path: Path, rows: list[dict[str, Any]]) -> None:
    """A database exactly as the seed's tools left it: their schema, their rows."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SEED_DDL)
        for row in rows:
            record = {**row, "situation": json.dumps(row["situation"]),
                      "tags": json.dumps(row.get("tags", []))}
            names = ", ".join(record)
            marks = ", ".join("?" for _ in record)
            connection.execute(f"INSERT INTO decisions ({names}) VALUES ({marks})",
                               list(record.values()))
        connection.commit()
    finally:
        connection.close()


def columns_of(log: PolicyDecisionLog, decision_id: str) -> dict[str, Any]:
    """Every stored column of one decision, as the database holds it."""
    Decision = log.models.Decision
    row = Decision.select().where(Decision.decision_id == decision_id).dicts().get()
    assert set(row) == set(STORED_COLUMNS)
    return row


def files_in(folder: Path) -> set[str]:
    """Names of the files in ``folder``."""
    return {entry.name for entry in folder.iterdir()}
