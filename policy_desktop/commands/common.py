"""Helpers shared by the sub-commands: opening the log, reporting errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from policy_desktop.store import PolicyDecisionLog, StoreError

T = TypeVar("T")


def error(message: str) -> None:
    """Print a one-line error for the person at the terminal (a driver's multi-line
    message, such as psycopg2's, is joined into one line)."""
    text = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"policy-desktop: error: {text}", file=sys.stderr)


@contextmanager
def open_log(database: str | None, *, create: bool) -> Iterator[PolicyDecisionLog]:
    """Open the chosen database; errors propagate as :class:`StoreError`."""
    log = PolicyDecisionLog(database, create=create)
    if log.backup_path is not None:
        print(f"Upgraded the database schema; the old file is kept as {log.backup_path}",
              file=sys.stderr)
    try:
        yield log
    finally:
        log.close()


def guarded(action: Callable[[], int]) -> int:
    """Run ``action``; turn store errors into a one-line message and exit status 1."""
    try:
        return action()
    except StoreError as problem:
        error(str(problem))
        return 1


def percent(value: float | None) -> str:
    """``0.778`` -> ``77.8%``; ``None`` -> ``n/a``."""
    return "n/a" if value is None else f"{value * 100:.1f}%"
