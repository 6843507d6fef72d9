"""Table definitions (peewee) for the decision log.

Model classes here are unbound; :func:`bind_models` makes a set bound to one
database so several logs can be open in one process without global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

import peewee as pw

SCHEMA_VERSION = 4
"""1 = the seed's ``decisions`` table alone; 2 = reviews, runs, store_meta, extra columns;
3 = ``timestamp`` holds a normalised UTC instant (the original text in ``timestamp_text``)
and runs record their owner process and a heartbeat; 4 = reviewers correct classification
and risk level (``review_classification``, ``review_risk_level`` on decisions and review
events) and a review event may carry a ``comment``."""


_M = TypeVar("_M", bound=pw.Model)


class _Unbound(pw.Model):
    class Meta:
        database = None
        legacy_table_names = False


class NullablePrimaryKeyText(pw.TextField):
    """``TEXT PRIMARY KEY`` exactly as the seed declares it (no explicit NOT NULL)."""


class DecisionRow(_Unbound):
    """One logged decision; the seed's 21 columns first, then additions."""

    decision_id = NullablePrimaryKeyText(primary_key=True, null=True)
    timestamp = pw.TextField()
    situation = pw.TextField()
    team_context = pw.TextField(null=True)
    model_name = pw.TextField()
    model_version = pw.TextField()
    prompt_version = pw.TextField()
    decision = pw.TextField()
    classification = pw.TextField(null=True)
    risk_level = pw.TextField(null=True)
    reasoning = pw.TextField(null=True)
    full_response = pw.TextField(null=True)
    expected_decision = pw.TextField(null=True)
    decision_correct = pw.IntegerField(null=True)
    reasoning_coverage = pw.DoubleField(null=True)  # REAL on SQLite, DOUBLE PRECISION else
    reviewed = pw.IntegerField(null=True, constraints=[pw.SQL("DEFAULT 0")])
    review_decision = pw.TextField(null=True)
    review_reasoning = pw.TextField(null=True)
    review_timestamp = pw.TextField(null=True)
    scenario_id = pw.TextField(null=True)
    tags = pw.TextField(null=True)
    # --- additions (schema version 2) ---
    reviewer = pw.TextField(null=True)
    review_action = pw.TextField(null=True)
    confidence = pw.DoubleField(null=True)
    run_id = pw.TextField(null=True)
    prompt_tokens = pw.BigIntegerField(null=True)  # 64-bit on every backend
    generated_tokens = pw.BigIntegerField(null=True)
    seconds = pw.DoubleField(null=True)
    # --- schema version 3 ---
    timestamp_text = pw.TextField(null=True)  # the timestamp as given, when not canonical
    # --- schema version 4: the current review's labels (NULL = not given) ---
    review_classification = pw.TextField(null=True)
    review_risk_level = pw.TextField(null=True)

    class Meta:
        table_name = "decisions"


SEED_COLUMNS: tuple[str, ...] = (
    "decision_id", "timestamp", "situation", "team_context", "model_name", "model_version",
    "prompt_version", "decision", "classification", "risk_level", "reasoning", "full_response",
    "expected_decision", "decision_correct", "reasoning_coverage", "reviewed", "review_decision",
    "review_reasoning", "review_timestamp", "scenario_id", "tags",
)  # fmt: skip
ADDED_COLUMNS: tuple[str, ...] = (
    "reviewer", "review_action", "confidence", "run_id", "prompt_tokens", "generated_tokens",
    "seconds",
)  # fmt: skip
REVIEW_LABEL_COLUMNS: tuple[str, ...] = ("review_classification", "review_risk_level")
"""Added by schema 4 to ``decisions`` (and, with ``comment``, to ``reviews``)."""
REVIEW_EVENT_COLUMNS: tuple[str, ...] = (*REVIEW_LABEL_COLUMNS, "comment")
ALL_COLUMNS: tuple[str, ...] = SEED_COLUMNS + ADDED_COLUMNS + REVIEW_LABEL_COLUMNS
"""The columns that are fields of :class:`~policy_desktop.store.decision.PolicyDecision`."""
TEXT_TIMESTAMP_COLUMN = "timestamp_text"
STORED_COLUMNS: tuple[str, ...] = (*ALL_COLUMNS, TEXT_TIMESTAMP_COLUMN)
"""Every column of ``decisions``: the record's fields and the original timestamp text."""
RUN_OWNER_COLUMNS: tuple[str, ...] = ("owner_host", "owner_pid", "owner_start", "heartbeat")
WIDE_NUMBER_COLUMNS: dict[str, str] = {
    "reasoning_coverage": "DOUBLE PRECISION", "confidence": "DOUBLE PRECISION",
    "seconds": "DOUBLE PRECISION", "prompt_tokens": "BIGINT", "generated_tokens": "BIGINT",
}
"""Columns that schema 2 made 4-byte on PostgreSQL (``real``, ``integer``); widened by 3."""

SEED_INDEXES: dict[str, tuple[str, ...]] = {
    "idx_timestamp": ("timestamp",),
    "idx_reviewed": ("reviewed",),
    "idx_decision_correct": ("decision_correct",),
}
# Extra indexes. The review queues page by time within a state; every page sort ends in
# decision_id so the order is total (keyset paging) and needs no sort step.
EXTRA_INDEXES: dict[str, tuple[str, ...]] = {
    "idx_time_id": ("timestamp", "decision_id"),
    "idx_reviewed_timestamp": ("reviewed", "timestamp", "decision_id"),
    "idx_correct_timestamp": ("decision_correct", "timestamp", "decision_id"),
    "idx_action_timestamp": ("review_action", "timestamp", "decision_id"),
    "idx_run_timestamp": ("run_id", "timestamp", "decision_id"),
    # The review queue sorted by confidence (least confident first).
    "idx_reviewed_confidence": ("reviewed", "confidence", "decision_id"),
    # Covers statistics, view counts and the filter menus in one pass. It leads with
    # the review state on purpose: an index leading with a filter-bar column (decision,
    # model) wins the planner's choice for that filter and sorts half the table per page.
    "idx_statistics": ("reviewed", "decision_correct", "review_action", "decision",
                       "model_name", "prompt_version"),
}


class ReviewRow(_Unbound):
    """One review event; rows are only ever appended."""

    id = pw.AutoField()
    decision_id = pw.TextField(index=True)
    reviewer = pw.TextField(null=True)
    action = pw.TextField()
    review_decision = pw.TextField(null=True)
    review_reasoning = pw.TextField(null=True)
    timestamp = pw.TextField()
    blind = pw.IntegerField(constraints=[pw.SQL("DEFAULT 0")], default=0)
    blind_decision = pw.TextField(null=True)
    # --- schema version 4 ---
    review_classification = pw.TextField(null=True)
    review_risk_level = pw.TextField(null=True)
    comment = pw.TextField(null=True)  # the reviewer's free-text note (plain text)

    class Meta:
        table_name = "reviews"
        constraints = (
            pw.SQL("FOREIGN KEY (decision_id) REFERENCES decisions (decision_id)"),
        )


class RunRow(_Unbound):
    """One scenario run of the local model."""

    run_id = pw.TextField(primary_key=True)
    started = pw.TextField()
    finished = pw.TextField(null=True)
    status = pw.TextField()
    model_name = pw.TextField(null=True)
    model_version = pw.TextField(null=True)
    model_path = pw.TextField(null=True)
    prompt_version = pw.TextField(null=True)
    scenario_file = pw.TextField(null=True)
    scenario_ids = pw.TextField(null=True)
    settings = pw.TextField(null=True)
    summary = pw.TextField(null=True)
    error = pw.TextField(null=True)
    # --- schema version 3: who runs it, and when it last logged something ---
    owner_host = pw.TextField(null=True)
    owner_pid = pw.IntegerField(null=True)
    owner_start = pw.TextField(null=True)
    heartbeat = pw.TextField(null=True)

    class Meta:
        table_name = "runs"


class MetaRow(_Unbound):
    """Key/value facts about the store: ``schema_version`` and the change ``revision``."""

    key = pw.TextField(primary_key=True)
    value = pw.TextField()

    class Meta:
        table_name = "store_meta"


@dataclass(frozen=True)
class BoundModels:
    """The model classes of one open database."""

    Decision: type[DecisionRow]
    Review: type[ReviewRow]
    Run: type[RunRow]
    Meta: type[MetaRow]

    def all(self) -> list[type[pw.Model]]:
        return [self.Decision, self.Review, self.Run, self.Meta]


def _bound(model: type[_M], database: pw.Database) -> type[_M]:
    meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
    # type() with ``model`` as the only base makes a subclass of it; mypy sees a plain type
    return cast(type[_M], type(model.__name__, (model,), {"Meta": meta, "__module__": __name__}))


def bind_models(database: pw.Database) -> BoundModels:
    """Model classes bound to ``database`` (fresh subclasses; nothing global is changed)."""
    return BoundModels(
        Decision=_bound(DecisionRow, database),
        Review=_bound(ReviewRow, database),
        Run=_bound(RunRow, database),
        Meta=_bound(MetaRow, database),
    )


def index_sql(table: str, name: str, columns: tuple[str, ...]) -> str:
    """Portable ``CREATE INDEX IF NOT EXISTS`` statement."""
    return f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})"
