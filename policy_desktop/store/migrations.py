"""Schema creation and upgrades (``playhouse.migrate``), with a backup before any change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from policy_desktop.store.database import DatabaseTarget, backup_file
from policy_desktop.store.decision import (
    derive_review_action,
    is_canonical_timestamp,
    normalized_timestamp,
)
from policy_desktop.store.schema import (
    ADDED_COLUMNS,
    EXTRA_INDEXES,
    REVIEW_EVENT_COLUMNS,
    REVIEW_LABEL_COLUMNS,
    RUN_OWNER_COLUMNS,
    SCHEMA_VERSION,
    SEED_INDEXES,
    TEXT_TIMESTAMP_COLUMN,
    WIDE_NUMBER_COLUMNS,
    BoundModels,
    index_sql,
)

log = logging.getLogger(__name__)

SCHEMA_LOCK_KEY = 0x706F6C6963790001
"""PostgreSQL advisory lock held while the schema is created or upgraded."""


def _create_indexes(database: pw.Database) -> None:
    for name, columns in {**SEED_INDEXES, **EXTRA_INDEXES}.items():
        database.execute_sql(index_sql("decisions", name, columns))


RETIRED_INDEXES: tuple[str, ...] = ("idx_model_prompt",)
"""Indexes of earlier builds that mislead the query planner; dropped on open."""


def _add_missing_indexes(database: pw.Database) -> None:
    """Create indexes added or changed since the file was made (speed only; same version)."""
    existing = {index.name: tuple(index.columns) for index in database.get_indexes("decisions")}
    wanted = {**SEED_INDEXES, **EXTRA_INDEXES}
    stale = [name for name, columns in wanted.items() if existing.get(name) != columns]
    retired = [name for name in RETIRED_INDEXES if name in existing]
    if stale or retired:
        with database.atomic():
            for name in retired:
                database.execute_sql(f"DROP INDEX {name}")
            for name in stale:
                log.info("Creating index %s", name)
                if name in existing:
                    database.execute_sql(f"DROP INDEX {name}")
                database.execute_sql(index_sql("decisions", name, wanted[name]))


def _set_version(models: BoundModels, version: int) -> None:
    """Record the schema version (an UPDATE, else an INSERT: portable to PostgreSQL)."""
    Meta = models.Meta
    if not Meta.update(value=str(version)).where(Meta.key == "schema_version").execute():
        Meta.insert(key="schema_version", value=str(version)).execute()
    Meta.insert(key="revision", value="0").on_conflict_ignore().execute()


def _create_fresh(database: pw.Database, models: BoundModels) -> None:
    database.create_tables(models.all(), safe=True)
    _create_indexes(database)
    _set_version(models, SCHEMA_VERSION)


def _migrate_1_to_2(database: pw.Database, models: BoundModels) -> None:
    """The seed's lone ``decisions`` table gains reviewer/run columns and the new tables.

    Reviews made with the seed's tools become one history event each, so undo and
    the correction count work on them like on new reviews.
    """
    migrator = SchemaMigrator.from_database(database)
    existing = {column.name for column in database.get_columns("decisions")}
    fields = models.Decision._meta.fields
    migrate(*[
        migrator.add_column("decisions", name, fields[name])
        for name in ADDED_COLUMNS if name not in existing
    ])
    database.create_tables([models.Review, models.Run, models.Meta], safe=True)
    _create_indexes(database)
    now = datetime.now(UTC).isoformat()
    Decision = models.Decision
    reviewed = Decision.select(
        Decision.decision_id, Decision.decision, Decision.reasoning, Decision.review_decision,
        Decision.review_reasoning, Decision.review_timestamp,
    ).where(Decision.reviewed == 1).dicts()
    for row in reviewed.iterator():
        action = derive_review_action(row["decision"], row["reasoning"],
                                      row["review_decision"], row["review_reasoning"])
        Decision.update(review_action=action).where(
            Decision.decision_id == row["decision_id"]).execute()
        models.Review.insert(
            decision_id=row["decision_id"], reviewer=None, action=action,
            review_decision=row["review_decision"], review_reasoning=row["review_reasoning"],
            timestamp=row["review_timestamp"] or now,
        ).execute()
    _set_version(models, 2)


def _add_columns(database: pw.Database, table: str, model: type[pw.Model],
                 names: tuple[str, ...]) -> None:
    existing = {column.name for column in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    fields = model._meta.fields
    missing = [name for name in names if name not in existing]
    if missing:
        migrate(*[migrator.add_column(table, name, fields[name]) for name in missing])


def _migrate_2_to_3(database: pw.Database, models: BoundModels) -> None:
    """Timestamps become one UTC form (text order = time order), the given text is kept;
    runs gain their owner process and a heartbeat."""
    _add_columns(database, "decisions", models.Decision, (TEXT_TIMESTAMP_COLUMN,))
    _add_columns(database, "runs", models.Run, RUN_OWNER_COLUMNS)
    if isinstance(database, pw.PostgresqlDatabase):  # SQLite has one REAL and one INTEGER
        for column, kind in WIDE_NUMBER_COLUMNS.items():
            database.execute_sql(
                f'ALTER TABLE decisions ALTER COLUMN "{column}" TYPE {kind}')
    Decision = models.Decision
    changes: list[tuple[str, str, str]] = []
    rows = Decision.select(Decision.decision_id, Decision.timestamp).tuples()
    for decision_id, given in rows.iterator():
        if given is None or is_canonical_timestamp(given):
            continue
        try:
            changes.append((normalized_timestamp(given), given, decision_id))
        except ValueError:  # an unreadable time from outside: left as it is
            continue
    for canonical, given, decision_id in changes:
        Decision.update(timestamp=canonical, timestamp_text=given).where(
            Decision.decision_id == decision_id).execute()
    _set_version(models, 3)


def _migrate_3_to_4(database: pw.Database, models: BoundModels) -> None:
    """Reviewers' classification and risk level on decisions and review events, and a
    comment on review events; every existing review keeps NULL there (not given)."""
    _add_columns(database, "decisions", models.Decision, REVIEW_LABEL_COLUMNS)
    _add_columns(database, "reviews", models.Review, REVIEW_EVENT_COLUMNS)
    _set_version(models, 4)


MIGRATIONS: dict[int, Callable[[pw.Database, BoundModels], None]] = {
    1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}
"""``MIGRATIONS[v]`` upgrades a version-``v`` database to ``v + 1``."""


def _stored_version(database: pw.Database, models: BoundModels) -> int | None:
    """The schema version on disk: None for an empty database, 1 for the seed's table."""
    tables = set(database.get_tables())
    if "store_meta" in tables:
        row = models.Meta.get_or_none(models.Meta.key == "schema_version")
        if row is not None:
            return int(row.value)
    return 1 if "decisions" in tables else None


def ensure_schema(
    database: pw.Database,
    models: BoundModels,
    target: DatabaseTarget,
    found: int | None,
    backup: Path | None = None,
    *,
    read_only: bool = False,
) -> Path | None:
    """Create or upgrade the schema; return the backup file made before migrating, if any.

    ``found`` is the version seen when the file was checked and ``backup`` the copy
    made then. The version is read again inside a write transaction (``BEGIN
    IMMEDIATE`` on SQLite), so two processes opening an old file migrate it once.
    """
    if found is not None and found >= SCHEMA_VERSION:
        if not read_only:
            _add_missing_indexes(database)
        return backup
    with database.atomic():
        if isinstance(database, pw.PostgresqlDatabase):
            # Two clients setting up one server database: the second waits, then sees
            # the schema the first made (CREATE ... IF NOT EXISTS alone races).
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        current = _stored_version(database, models)
        if current is None:
            _create_fresh(database, models)
            return backup
        if current >= SCHEMA_VERSION:
            if current == SCHEMA_VERSION and not read_only:
                _add_missing_indexes(database)
            return backup
        path = target.sqlite_path
        if backup is None and path is not None and path.exists():
            backup = backup_file(path, current)
        if backup is not None:
            log.info("Backed up %s to %s before migrating", target.display_name, backup)
        for version in range(current, SCHEMA_VERSION):
            MIGRATIONS[version](database, models)
    return backup
