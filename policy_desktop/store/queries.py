"""Filtered, keyset-paged queries for review tools (the GUI's table and filters)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import peewee as pw

from policy_desktop.store.decision import REVIEW_ACTIONS
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.replay_answers import ids_condition, replay_condition
from policy_desktop.store.rows import dict_rows, tuple_rows
from policy_desktop.store.views import VIEWS, state_fields, view_condition, views_of

__all__ = [
    "ALL_VIEWS",
    "FACETS",
    "FAILURES",
    "SORTS",
    "SORT_ORDER",
    "VIEWS",
    "DecisionFilter",
    "DecisionQueries",
    "DecisionSummary",
    "PageCursor",
    "SortOrder",
    "listed_after",
]

FAILURES = "failures"
"""A run's failures, as the run reports them: a wrong decision, or a right one whose
reasoning coverage stays below the run's pass threshold (``DecisionFilter.pass_coverage``)."""
ALL_VIEWS: tuple[str, ...] = (*VIEWS, FAILURES)
DEFAULT_PASS_COVERAGE = 0.5  # the evaluator's default, for runs that did not record theirs
FACETS: tuple[str, ...] = ("model_name", "prompt_version", "run_id")
"""The filter menus: each a :class:`DecisionFilter` field, a ``Decision`` column and a key of
:meth:`DecisionQueries.facets`."""


@dataclass(frozen=True)
class SortOrder:
    """How a sort lists decisions: by ``column``, ties by ``decision_id`` the same way.

    ``column`` names both the ``Decision`` column and the :class:`DecisionSummary` field.
    Rows without a value (an unknown confidence) come after every row with one, in both
    directions: an unknown confidence says nothing about doubt. :meth:`DecisionQueries.page`
    builds its ``ORDER BY`` and keyset ranges from this, and :meth:`listed_after` is the same
    order in Python (for merging re-read rows into a held list).
    """

    column: str
    descending: bool

    def listed_after(self, first: DecisionSummary, second: DecisionSummary) -> bool:
        """Whether ``first`` is listed after ``second``."""
        a, b = getattr(first, self.column), getattr(second, self.column)
        if (a is None) != (b is None):
            return a is None  # the rows without a value: last, both ways
        key_a = (a, first.decision_id) if a is not None else (first.decision_id,)
        key_b = (b, second.decision_id) if b is not None else (second.decision_id,)
        return key_a < key_b if self.descending else key_a > key_b


SORT_ORDER: dict[str, SortOrder] = {
    "newest": SortOrder("timestamp", descending=True),
    "oldest": SortOrder("timestamp", descending=False),
    "least_confident": SortOrder("confidence", descending=False),
    "most_confident": SortOrder("confidence", descending=True),
}
"""Every sort the queries offer, by name: the one definition of the listing order."""
SORTS: tuple[str, ...] = tuple(SORT_ORDER)


def listed_after(first: DecisionSummary, second: DecisionSummary, sort: str) -> bool:
    """Whether ``first`` is listed after ``second`` by :meth:`DecisionQueries.page` for ``sort``."""
    return SORT_ORDER[sort].listed_after(first, second)


@dataclass(frozen=True)
class DecisionFilter:
    """Which decisions to show and in which order; every part is applied in SQL."""

    view: str = "unreviewed"
    text: str = ""
    decision: str | None = None
    model_name: str | None = None
    prompt_version: str | None = None
    run_id: str | None = None
    sort: str = "newest"
    pass_coverage: float = DEFAULT_PASS_COVERAGE  # the ``failures`` view's threshold
    expected: str | None = None  # the scenario's expected decision (a confusion-matrix cell)
    review_action: str | None = None  # the current review action (a review-type bar)
    decision_ids: tuple[str, ...] | None = None  # exactly these decisions (None: no such limit)
    exclude_replays: bool = False  # leave replay answers out (the statistics' own counts)

    def __post_init__(self) -> None:
        if self.decision_ids is not None and not isinstance(self.decision_ids, tuple):
            object.__setattr__(self, "decision_ids", tuple(self.decision_ids))
        if self.review_action is not None and self.review_action not in REVIEW_ACTIONS:
            raise ValueError(f"unknown review action {self.review_action!r}; choose one of "
                             f"{', '.join(REVIEW_ACTIONS)}")
        if self.view not in ALL_VIEWS:
            raise ValueError(f"unknown view {self.view!r}; choose one of {', '.join(ALL_VIEWS)}")
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; choose one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class DecisionSummary:
    """The columns of one table row (the full record is fetched on selection)."""

    decision_id: str
    timestamp: str
    scenario_id: str | None
    actor: str
    action: str
    target: str
    decision: str
    expected_decision: str | None
    decision_correct: bool | None
    reasoning_coverage: float | None
    confidence: float | None
    reviewed: bool
    review_action: str | None
    review_decision: str | None
    reviewer: str | None
    model_name: str
    prompt_version: str
    run_id: str | None


PageCursor = tuple[Any, str]
"""The sort value and id of the last row of a page; the next page starts after it."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class DecisionQueries:
    """Counts, pages and facets over one :class:`PolicyDecisionLog`."""

    def __init__(self, log: PolicyDecisionLog) -> None:
        self._log = log
        self._D = log.models.Decision

    def _view_condition(self, view: str, *, steer_to_run: bool = False,
                        pass_coverage: float = DEFAULT_PASS_COVERAGE) -> pw.Expression | None:
        """The SQL of a view; ``steer_to_run`` keeps its index out of the planner's choice.

        With a run filter, SQLite would otherwise walk a view's index (700,000 entries
        for "unreviewed" at a million decisions) for the 500 rows of one run. A unary
        ``+`` (valid SQL on an integer anywhere) makes it use ``idx_run_timestamp``.
        """
        D = self._D

        def integer(field: pw.Field) -> pw.Node:
            return pw.NodeList((pw.SQL("+"), field), glue="") if steer_to_run else field

        if view == FAILURES:  # the negation of the run's PASS, NULLs counted as failing
            passed = (pw.fn.COALESCE(integer(D.decision_correct), 0) == 1) & (
                pw.fn.COALESCE(D.reasoning_coverage, -1.0) >= pass_coverage)
            return ~passed
        return view_condition(D, view, integer=integer)

    def _facet_conditions(self, flt: DecisionFilter) -> list[pw.Node]:
        D = self._D
        conditions: list[pw.Node] = []
        text = flt.text.strip()
        if text:
            conditions.append(D.situation.contains(text) | D.reasoning.contains(text)
                              | D.decision_id.contains(text))
        if flt.decision:
            conditions.append(D.decision == flt.decision)
        if flt.expected:
            conditions.append(D.expected_decision == flt.expected)
        if flt.review_action:
            conditions.append(D.review_action == flt.review_action)
        if flt.decision_ids is not None:
            conditions.append(ids_condition(self._log.database, D.decision_id, flt.decision_ids)
                              if flt.decision_ids else pw.SQL("1 = 0"))
        if flt.exclude_replays:
            production = replay_condition(self._log.database, D, replays=False)
            if production is not None:
                conditions.append(production)
        for facet in FACETS:
            value = getattr(flt, facet)
            if value:
                conditions.append(getattr(D, facet) == value)
        return conditions

    def _where(self, flt: DecisionFilter) -> list[pw.Node]:
        steer = bool(flt.run_id) and isinstance(self._log.database, pw.SqliteDatabase)
        view = self._view_condition(flt.view, steer_to_run=steer,
                                    pass_coverage=flt.pass_coverage)
        return ([view] if view is not None else []) + self._facet_conditions(flt)

    def count(self, flt: DecisionFilter) -> int:
        """How many decisions the filter selects."""
        query = self._D.select()
        for condition in self._where(flt):
            query = query.where(condition)
        return query.count()

    def unreviewed_count(self, flt: DecisionFilter) -> int:
        """How many decisions the filter selects that nobody has reviewed yet."""
        query = self._D.select()
        for condition in self._where(flt):
            query = query.where(condition)
        return query.where(view_condition(self._D, "unreviewed")).count()

    def view_counts(self, flt: DecisionFilter) -> dict[str, int]:
        """The count of every view under the filter's other conditions, in one query.

        Groups by the columns of the covering index ``idx_statistics`` (a few dozen
        groups) and adds them up here, which is much cheaper than CASE per row.
        """
        D = self._D
        state = state_fields(D)
        query = D.select(*state, pw.fn.COUNT(pw.SQL("*")).alias("count"))
        for condition in self._facet_conditions(flt):
            query = query.where(condition)
        counts = dict.fromkeys(VIEWS, 0)
        for group in dict_rows(query.group_by(*state)):
            for view in views_of(group):  # the views' own tests, on the group's values
                counts[view] += group["count"]
        return counts

    def page(
        self, flt: DecisionFilter, after: PageCursor | None = None, limit: int = 200
    ) -> tuple[list[DecisionSummary], PageCursor | None]:
        """One page of rows after ``after``; return them and the cursor of the next page.

        Keyset paging: every condition is a range on an index (``key <= v AND (key < v
        OR id < last)``), so a page deep in the list costs what the first one does.
        Confidence sorts read the rows without a confidence as their own segment,
        last in both directions: an unknown confidence says nothing about doubt, and
        300 unparseable answers must not hide the doubtful ones.
        """
        D = self._D
        order = SORT_ORDER[flt.sort]
        key: pw.Field = getattr(D, order.column)
        descending = order.descending
        columns = (
            D.decision_id, D.timestamp, D.scenario_id, D.situation, D.decision,
            D.expected_decision, D.decision_correct, D.reasoning_coverage, D.confidence,
            D.reviewed, D.review_action, D.review_decision, D.reviewer, D.model_name,
            D.prompt_version, D.run_id,
        )
        where = self._where(flt)
        segments = ["values", "nulls"] if key.null else ["values"]
        if after is not None and key.null:
            segments = segments[segments.index("nulls" if after[0] is None else "values"):]
        rows: list[dict[str, Any]] = []
        for position, segment in enumerate(segments):
            query = D.select(*columns)
            for condition in where:
                query = query.where(condition)
            order_id = D.decision_id.desc() if descending else D.decision_id.asc()
            if segment == "nulls":
                query = query.where(key.is_null()).order_by(order_id)
            else:
                if key.null:
                    query = query.where(key.is_null(False))
                query = query.order_by(key.desc() if descending else key.asc(), order_id)
            if after is not None and position == 0:
                query = query.where(self._after(key, descending, segment, after))
            rows.extend(dict_rows(query.limit(limit - len(rows))))
            if len(rows) >= limit:
                break
        summaries = [self._summary(row) for row in rows]
        cursor = None
        if limit > 0 and len(rows) == limit:
            last = rows[-1]
            cursor = (last[key.name], last["decision_id"])
        return summaries, cursor

    def _after(self, key: pw.Field, descending: bool, segment: str,
               cursor: PageCursor) -> pw.Expression:
        """Rows after ``cursor`` within its own segment, as an index range."""
        D = self._D
        value, last_id = cursor
        if segment == "nulls":
            return D.decision_id < last_id if descending else D.decision_id > last_id
        if descending:
            return (key <= value) & ((key < value) | (D.decision_id < last_id))
        return (key >= value) & ((key > value) | (D.decision_id > last_id))

    @staticmethod
    def _summary(row: dict[str, Any]) -> DecisionSummary:
        try:
            situation = json.loads(row["situation"]) if row["situation"] else {}
        except json.JSONDecodeError:
            situation = {}
        if not isinstance(situation, dict):
            situation = {}
        correct = row["decision_correct"]
        return DecisionSummary(
            decision_id=row["decision_id"], timestamp=row["timestamp"],
            scenario_id=row["scenario_id"], actor=_text(situation.get("actor")),
            action=_text(situation.get("action")), target=_text(situation.get("target")),
            decision=row["decision"], expected_decision=row["expected_decision"],
            decision_correct=None if correct is None else bool(correct),
            reasoning_coverage=row["reasoning_coverage"], confidence=row["confidence"],
            reviewed=bool(row["reviewed"]), review_action=row["review_action"],
            review_decision=row["review_decision"], reviewer=row["reviewer"],
            model_name=row["model_name"], prompt_version=row["prompt_version"],
            run_id=row["run_id"],
        )

    def facets(self) -> dict[str, list[str]]:
        """Distinct values for the filter menus: models, prompt versions, runs (newest first).

        The models and prompt versions come from one pass over the covering index
        ``idx_statistics`` (about 0.1 s for a million decisions).
        """
        D = self._D
        pairs = tuple_rows(D.select(D.model_name, D.prompt_version).distinct())
        runs = [run.run_id for run in self._log.list_runs()]
        values = {"model_name": sorted({model for model, _ in pairs}),
                  "prompt_version": sorted({prompt for _, prompt in pairs}), "run_id": runs}
        return {facet: values[facet] for facet in FACETS}
