"""Schema creation and upgrades (``playhouse.migrate``), with a backup before any change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate

from policy_desktop.store.database import DatabaseTarget, backup_file
from policy_desktop.store.decision import derive_review_action
from policy_desktop.store.schema import (
    ADDED_COLUMNS,
    EXTRA_INDEXES,
    SCHEMA_VERSION,
    SEED_INDEXES,
    BoundModels,
    index_sql,
)

log = logging.getLogger(__name__)


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
    models.Meta.insert(key="schema_version", value=str(version)).on_conflict_replace().execute()
    models.Meta.insert(key="revision", value="0").on_conflict_ignore().execute()


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


MIGRATIONS: dict[int, Callable[[pw.Database, BoundModels], None]] = {1: _migrate_1_to_2}
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
        current = _stored_version(database, models)
        if current is None:
            _create_fresh(database, models)
            return backup
        if current >= SCHEMA_VERSION:
            return backup
        path = target.sqlite_path
        if backup is None and path is not None and path.exists():
            backup = backup_file(path, current)
        if backup is not None:
            log.info("Backed up %s to %s before migrating", target.display_name, backup)
        for version in range(current, SCHEMA_VERSION):
            MIGRATIONS[version](database, models)
    return backup
