"""The decision store: the only place that knows the database (peewee; SQLite or PostgreSQL)."""

from policy_desktop.store.decision import PolicyDecision
from policy_desktop.store.errors import (
    DatabaseNotFoundError,
    DecisionNotFoundError,
    InvalidRecordError,
    NotADatabaseError,
    ReviewConflictError,
    SchemaTooNewError,
    StoreError,
    TrainingGateError,
)
from policy_desktop.store.log import PolicyDecisionLog, ReviewEvent, RunRecord
from policy_desktop.store.masking import mask_passwords

__all__ = [
    "DatabaseNotFoundError",
    "DecisionNotFoundError",
    "InvalidRecordError",
    "NotADatabaseError",
    "PolicyDecision",
    "PolicyDecisionLog",
    "ReviewConflictError",
    "ReviewEvent",
    "RunRecord",
    "SchemaTooNewError",
    "StoreError",
    "TrainingGateError",
    "mask_passwords",
]
