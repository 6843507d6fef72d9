"""Query rows as plain dicts and tuples, typed as such.

peewee's stubs type ``query.dicts()`` and ``query.tuples()`` as the model's rows, so mypy
rejects ``row["column"]`` and tuple unpacking on them; these readers say what they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["dict_rows", "iter_dict_rows", "tuple_rows"]


def dict_rows(query: Any) -> list[dict[str, Any]]:
    """Every row of ``query`` as a dict keyed by column (or alias) name."""
    return list(query.dicts())


def iter_dict_rows(query: Any) -> Iterator[dict[str, Any]]:
    """The rows of ``query`` as dicts, streamed (a server-side cursor where there is one)."""
    yield from query.dicts().iterator()


def tuple_rows(query: Any) -> list[tuple[Any, ...]]:
    """Every row of ``query`` as a tuple, in the order of the selected columns."""
    return list(query.tuples())
