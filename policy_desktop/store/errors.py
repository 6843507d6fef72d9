"""Errors raised by the decision store; each names the database it concerns."""

from __future__ import annotations


class StoreError(Exception):
    """A problem with the decision database, phrased for the person who chose it."""


class DatabaseNotFoundError(StoreError):
    """A read-only command was pointed at a database file that does not exist."""

    def __init__(self, location: str) -> None:
        super().__init__(f"{location}: no such database (nothing was created)")
        self.location = location


class NotADatabaseError(StoreError):
    """The file exists but is not a SQLite database (or not a decision log)."""

    def __init__(self, location: str, reason: str = "not a SQLite database") -> None:
        super().__init__(f"{location}: {reason} (the file was left unchanged)")
        self.location = location
        self.reason = reason


class SchemaTooNewError(StoreError):
    """The database was written by a newer Policy Desktop than this one."""

    def __init__(self, location: str, found: int, known: int) -> None:
        super().__init__(
            f"{location}: schema version {found} is newer than this program knows ({known}); "
            "upgrade Policy Desktop (the file was left unchanged)"
        )
        self.location = location
        self.found = found
        self.known = known


class DecisionNotFoundError(StoreError, KeyError):
    """No decision has the given id."""

    def __init__(self, decision_id: str) -> None:
        super().__init__(f"no decision with id {decision_id!r}")
        self.decision_id = decision_id

    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0])


class ReviewConflictError(StoreError):
    """Someone else has reviewed the decision since; the caller's undo was not applied."""

    def __init__(self, decision_id: str, reviewer: str | None, timestamp: str,
                 action: str) -> None:
        who = reviewer or "an unnamed reviewer"
        super().__init__(
            f"{decision_id} was reviewed since by {who} ({action}, {timestamp}); nothing was "
            "undone (undo it explicitly to take that review back)")
        self.decision_id = decision_id
        self.reviewer = reviewer
        self.timestamp = timestamp
        self.action = action


class InvalidRecordError(StoreError, ValueError):
    """A decision or JSONL record breaks the schema's rules."""


class TrainingGateError(StoreError):
    """Too few corrections to export training data."""

    def __init__(self, corrections: int, required: int) -> None:
        more = required - corrections
        super().__init__(
            f"{corrections} corrections so far; {more} more needed before training data can be "
            f"exported (minimum {required})"
        )
        self.corrections = corrections
        self.required = required
        self.more_needed = more


class ClaimLostError(StoreError):
    """The reviewer's lease on a decision was taken over by another reviewer; not saved."""

    def __init__(self, decision_id: str, reviewer: str, holder: str | None) -> None:
        now_with = f"is now claimed by {holder}" if holder else "is no longer claimed by you"
        super().__init__(
            f"{decision_id} {now_with} (your lease ran out); your review was not saved")
        self.decision_id = decision_id
        self.reviewer = reviewer
        self.holder = holder


class ReviewedMeanwhileError(ClaimLostError):
    """Someone reviewed the claimed decision outside the queue (e.g. an older client)."""

    def __init__(self, decision_id: str, reviewer: str, by: str | None,
                 timestamp: str | None) -> None:
        StoreError.__init__(
            self, f"{decision_id} was reviewed meanwhile by {by or 'an unnamed reviewer'} "
            f"({timestamp or 'time unknown'}) outside the queue; your review was not saved")
        self.decision_id = decision_id
        self.reviewer = reviewer
        self.holder = by
