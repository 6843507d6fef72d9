"""Database failures (disk full, lock timeout, read-only, damage) as one-line store errors.

SQLite rolls a transaction back by itself after some failures (a full disk); peewee's
own rollback then fails with ``cannot rollback - no transaction is active`` and the
real cause is only in the exception's context. :func:`explain` looks through that
chain for the cause a person can act on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import peewee as pw

from policy_desktop.store.errors import StoreError
from policy_desktop.store.masking import mask_passwords

P = ParamSpec("P")
T = TypeVar("T")

_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("database or disk is full", "no space left", "file too large"),
     "the disk is full: nothing of this change was stored (free some space and try again)"),
    (("database is locked", "database table is locked"),
     "the database is busy: another program has held its write lock longer than the "
     "timeout; nothing was changed (try again when it has finished)"),
    (("readonly database", "read-only", "unable to open database file"),
     "the database cannot be written here (a read-only file or folder); nothing was changed"),
    (("malformed", "not a database"),
     "the database file is damaged; nothing was changed (copy it aside, then try "
     "`sqlite3 FILE .recover`)"),
    (("disk i/o error",),
     "the disk reported an error (full or failing): nothing of this change was stored"),
)


class DatabaseFailure(StoreError):
    """A database operation failed for an outside reason (disk, lock, permissions, damage)."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(error: BaseException, database: str) -> DatabaseFailure | None:
    """A :class:`DatabaseFailure` naming the first known cause in ``error``'s chain."""
    for item in _chain(error):
        text = str(item).lower()
        for needles, reason in _CAUSES:
            if any(needle in text for needle in needles):
                return DatabaseFailure(mask_passwords(f"{database}: {reason} ({item})"))
    return None


def _is_database_error(error: BaseException) -> bool:
    return isinstance(error, pw.DatabaseError | sqlite3.Error | OSError) and not isinstance(
        error, pw.IntegrityError | sqlite3.IntegrityError)


@contextmanager
def translated(database: Callable[[], str]) -> Iterator[None]:
    """Turn known database failures inside the block into :class:`DatabaseFailure`."""
    try:
        yield
    except StoreError:
        raise
    except Exception as error:
        failure = explain(error, database()) if _is_database_error(error) else None
        if failure is None:
            raise
        raise failure from error


def guarded_method(method: Callable[P, T]) -> Callable[P, T]:
    """Decorate a store method: known database failures become :class:`DatabaseFailure`."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        owner: Any = args[0]
        with translated(lambda: owner.display_name):
            return method(*args, **kwargs)

    return wrapper


def guarded_iterator(method: Callable[P, Iterator[T]]) -> Callable[P, Iterator[T]]:
    """Like :func:`guarded_method` for generator methods (failures while iterating)."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        owner: Any = args[0]
        with translated(lambda: owner.display_name):
            yield from method(*args, **kwargs)

    return wrapper
