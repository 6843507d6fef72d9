"""The review views (unreviewed, incorrect, corrections, reviewed, all), defined once.

Each view is one test on one column of a decision. From that one definition come both its
SQL condition (:func:`view_condition`, for pages, counts and dumps) and the same test in
Python on a row's values (:func:`views_of`, for counts summed from grouped rows), so the
two can never disagree. ``NULL`` matches no view but ``all``, in SQL and here alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import peewee as pw

from policy_desktop.store.decision import CORRECTION_ACTIONS

__all__ = [
    "STATE_COLUMNS",
    "VIEWS",
    "VIEW_TESTS",
    "ViewTest",
    "state_fields",
    "view_condition",
    "views_of",
]


@dataclass(frozen=True)
class ViewTest:
    """A view: ``column`` equals ``value``, or (``values`` given) is one of ``values``."""

    column: str
    value: int | None = None
    values: tuple[str, ...] = ()

    def matches(self, value: Any) -> bool:
        """The test on a Python value (``None`` never matches, as ``NULL`` in SQL)."""
        if value is None:
            return False
        return value in self.values if self.values else value == self.value


VIEW_TESTS: dict[str, ViewTest | None] = {
    "unreviewed": ViewTest("reviewed", 0),
    "incorrect": ViewTest("decision_correct", 0),
    "corrections": ViewTest("review_action", values=tuple(CORRECTION_ACTIONS)),
    "reviewed": ViewTest("reviewed", 1),
    "all": None,
}
"""Each view's test (``None``: every decision), in the order the window lists them."""

VIEWS: tuple[str, ...] = tuple(VIEW_TESTS)

STATE_COLUMNS: tuple[str, ...] = ("reviewed", "decision_correct", "review_action", "decision")
"""The review state of a decision: statistics and view counts group by these columns, in the
order of the covering index ``idx_statistics`` (which starts with them)."""


def view_condition(decision: Any, view: str, *,
                   integer: Callable[[pw.Field], pw.Node] | None = None
                   ) -> pw.Expression | None:
    """The SQL condition of ``view`` on the ``Decision`` model (``None`` for ``all``).

    ``integer`` wraps an integer column before it is compared (the queries use a unary
    ``+`` to keep a view's index out of the planner's choice).
    """
    if view not in VIEW_TESTS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    test = VIEW_TESTS[view]
    if test is None:
        return None
    field: pw.Field = getattr(decision, test.column)
    if test.values:
        return field.in_(list(test.values))
    column = integer(field) if integer is not None else field
    return cast(pw.Expression, column == test.value)  # the stubs say bool: it is SQL


def views_of(row: dict[str, Any]) -> list[str]:
    """The views a decision with these column values appears in (``all`` included)."""
    return [view for view, test in VIEW_TESTS.items()
            if test is None or test.matches(row.get(test.column))]


def state_fields(decision: Any) -> tuple[pw.Field, ...]:
    """The :data:`STATE_COLUMNS` of the ``Decision`` model, for a select and a group-by."""
    return tuple(getattr(decision, name) for name in STATE_COLUMNS)
