"""Query results as plain dictionaries, typed as such.

peewee's ``.dicts()`` yields one ``dict`` per row, but its type hints claim model
instances; reading rows through :func:`dict_rows` keeps the checked code honest
without a cast at every loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def dict_rows(query: Any) -> Iterator[dict[str, Any]]:
    """The rows of a peewee ``SELECT`` as ``{column alias: value}`` dictionaries."""
    return iter(query.dicts())
