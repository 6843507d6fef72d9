"""The GUI's queries: views, search, facets, sorts, keyset paging and view counts."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from functools import cmp_to_key
from itertools import pairwise
from pathlib import Path

import pytest
from store_helpers import make_decision, timestamp

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.decision import CORRECTION_ACTIONS
from policy_desktop.store.queries import (
    FACETS,
    SORT_ORDER,
    SORTS,
    VIEWS,
    DecisionFilter,
    DecisionQueries,
    DecisionSummary,
    listed_after,
)
from policy_desktop.store.schema import EXTRA_INDEXES

VIEW_TESTS: dict[str, Callable[[PolicyDecision], bool]] = {
    "unreviewed": lambda d: not d.reviewed,
    "incorrect": lambda d: d.decision_correct is False,
    "corrections": lambda d: d.review_action in CORRECTION_ACTIONS,
    "reviewed": lambda d: d.reviewed,
    "all": lambda d: True,
}


def expected_order(decisions: list[PolicyDecision], sort: str) -> list[str]:
    """The order the spec asks for, computed in Python (ties broken by id)."""
    def ids(rows: list[PolicyDecision]) -> list[str]:
        return [d.decision_id or "" for d in rows]

    if sort in ("newest", "oldest"):
        ordered = sorted(decisions, key=lambda d: (d.timestamp, d.decision_id))
        return ids(ordered[::-1] if sort == "newest" else ordered)
    nulls = sorted((d for d in decisions if d.confidence is None), key=lambda d: d.decision_id)
    known = sorted((d for d in decisions if d.confidence is not None),
                   key=lambda d: (d.confidence, d.decision_id))
    if sort == "least_confident":  # no confidence (unparseable) comes last in both orders
        return ids(known + nulls)
    return ids(known[::-1] + nulls[::-1])


def matches(decision: PolicyDecision, flt: DecisionFilter) -> bool:
    if not VIEW_TESTS[flt.view](decision):
        return False
    text = flt.text.strip().lower()
    if text:
        haystack = (json.dumps(decision.situation, ensure_ascii=False) + "\0"
                    + (decision.reasoning or "") + "\0" + (decision.decision_id or "")).lower()
        if text not in haystack:
            return False
    return all(value is None or getattr(decision, name) == value for name, value in (
        ("decision", flt.decision), ("model_name", flt.model_name),
        ("prompt_version", flt.prompt_version), ("run_id", flt.run_id)))


def page_through(queries: DecisionQueries, flt: DecisionFilter, size: int) -> list[str]:
    """Every page after the first from its cursor, until the cursor is None."""
    seen: list[str] = []
    cursor = None
    for _ in range(10_000):
        rows, cursor = queries.page(flt, cursor, limit=size)
        assert len(rows) <= size
        seen += [row.decision_id for row in rows]
        if cursor is None:
            return seen
    raise AssertionError("paging does not end")


def populate(log: PolicyDecisionLog, seed: int, count: int = 120) -> list[PolicyDecision]:
    """Random decisions with many equal timestamps and NULL confidences, randomly reviewed."""
    rng = random.Random(seed)
    decisions = []
    for index in range(count):
        decisions.append(make_decision(
            index, timestamp=timestamp(rng.randrange(8)),
            decision=rng.choice(("allow", "deny", "require_mfa", "require_attestation",
                                 "unparseable")),
            confidence=rng.choice((None, None, 0.1, 0.5, 0.5, 0.9, 1.0, 0.0)),
            decision_correct=rng.choice((None, True, False)),
            model_name=rng.choice(("gemma", "phi")), prompt_version=rng.choice(("v1", "v2")),
            run_id=rng.choice((None, "run_a", "run_b")),
            reasoning=rng.choice(("Needs MFA for prod.", "Routine read.", "Badge 100% valid")),
        ))
    log.log_decisions(decisions)
    for decision in decisions:
        roll = rng.random()
        if roll < 0.2:
            log.mark_reviewed(decision.decision_id or "")
        elif roll < 0.4:
            log.mark_reviewed(decision.decision_id or "", rng.choice(("allow", "deny")),
                              rng.choice((None, "Human reasoning.")))
        if rng.random() < 0.1 and log.get_review_history(decision.decision_id or ""):
            log.undo_review(decision.decision_id or "")
    return log.get_all_decisions()


@pytest.fixture
def log(store_location: str) -> Iterator[PolicyDecisionLog]:
    with PolicyDecisionLog(store_location) as opened:
        yield opened


FILTERS = [
    {},
    {"decision": "deny"},
    {"model_name": "phi", "prompt_version": "v1"},
    {"run_id": "run_a"},
    {"text": "mfa"},
    {"text": "100%"},
    {"text": "user1"},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keyset_paging_returns_every_row_once_in_order(log: PolicyDecisionLog, seed: int) -> None:
    decisions = populate(log, seed)
    queries = DecisionQueries(log)
    rng = random.Random(seed)
    checked = 0
    for view in VIEWS:
        for sort in SORTS:
            for extra in FILTERS:
                flt = DecisionFilter(view=view, sort=sort, **extra)
                expected = expected_order([d for d in decisions if matches(d, flt)], sort)
                size = rng.choice((1, 3, 7, 50, 500))
                got = page_through(queries, flt, size)
                assert got == expected, (flt, size)
                assert queries.count(flt) == len(expected)
                checked += len(expected)
    assert checked > 1000  # the data exercised real paging


def test_equal_keys_across_a_page_boundary(log: PolicyDecisionLog) -> None:
    """All rows share one timestamp and one confidence: the id alone orders them."""
    same = [make_decision(i, timestamp=timestamp(0), confidence=0.5) for i in range(10)]
    same += [make_decision(10 + i, timestamp=timestamp(0), confidence=None) for i in range(10)]
    log.log_decisions(same)
    queries = DecisionQueries(log)
    ids = sorted(d.decision_id or "" for d in same)
    for sort in SORTS:
        got = page_through(queries, DecisionFilter(view="all", sort=sort), 3)
        assert sorted(got) == ids and len(set(got)) == 20, sort


@pytest.mark.parametrize("sort", SORTS)
def test_the_python_order_is_the_sql_order(log: PolicyDecisionLog, sort: str) -> None:
    """``SORT_ORDER`` in Python (the table's refresh merge) lists rows exactly as the SQL
    ``ORDER BY`` built from it: ties on the value by id, no confidence last both ways."""
    populate(log, 11)
    queries = DecisionQueries(log)
    flt = DecisionFilter(view="all", sort=sort)
    listed, cursor = queries.page(flt, limit=1000)
    assert cursor is None and len(listed) == 120
    values = [getattr(row, SORT_ORDER[sort].column) for row in listed]
    assert len(set(values)) < len(values)  # ties
    if SORT_ORDER[sort].column == "confidence":
        assert values.count(None) > 10 and values[-1] is None  # NULLs, listed last

    def compare(first: DecisionSummary, second: DecisionSummary) -> int:
        return 1 if listed_after(first, second, sort) else -1 if listed_after(
            second, first, sort) else 0

    shuffled = listed[:]
    random.Random(5).shuffle(shuffled)
    in_python = sorted(shuffled, key=cmp_to_key(compare))
    assert [row.decision_id for row in in_python] == [row.decision_id for row in listed]
    for earlier, later in pairwise(listed):  # a strict total order
        assert listed_after(later, earlier, sort) and not listed_after(earlier, later, sort)
    for size in (1, 4, 13):  # and so is every page boundary
        assert page_through(queries, flt, size) == [row.decision_id for row in listed]


def test_view_counts_match_count(log: PolicyDecisionLog) -> None:
    populate(log, 7)
    queries = DecisionQueries(log)
    for extra in FILTERS:
        counts = queries.view_counts(DecisionFilter(**extra))
        assert set(counts) == set(VIEWS)
        for view in VIEWS:
            assert counts[view] == queries.count(DecisionFilter(view=view, **extra)), (extra, view)
    stats = log.get_statistics()
    counts = queries.view_counts(DecisionFilter())
    assert (counts["all"], counts["reviewed"], counts["unreviewed"], counts["corrections"]) == (
        stats["total"], stats["reviewed"], stats["unreviewed"], stats["corrections"])


def test_page_rows_carry_the_table_columns(log: PolicyDecisionLog) -> None:
    decision_id = log.log_decision(make_decision(
        3, situation={"actor": "ann", "action": "read", "target": {"repo": "x"}},
        run_id="run_a", confidence=0.25))
    log.mark_reviewed(decision_id, "deny", None, "bob")
    (row,), cursor = DecisionQueries(log).page(DecisionFilter(view="all"))
    assert cursor is None
    assert (row.decision_id, row.actor, row.action, row.target) == (
        decision_id, "ann", "read", '{"repo": "x"}')
    assert (row.reviewed, row.review_action, row.review_decision, row.reviewer) == (
        True, "correct_decision", "deny", "bob")
    assert (row.confidence, row.run_id, row.decision_correct) == (0.25, "run_a", False)


def test_text_search_treats_wildcards_literally(log: PolicyDecisionLog) -> None:
    log.log_decision(make_decision(0, reasoning="Badge 100% valid"))
    log.log_decision(make_decision(1, reasoning="Badge 1000 valid"))
    log.log_decision(make_decision(2, reasoning="under_score"))
    log.log_decision(make_decision(3, reasoning="underXscore"))
    queries = DecisionQueries(log)
    assert queries.count(DecisionFilter(view="all", text="100%")) == 1
    assert queries.count(DecisionFilter(view="all", text="under_score")) == 1
    assert queries.count(DecisionFilter(view="all", text="  BADGE ")) == 2
    assert queries.count(DecisionFilter(view="all", text="'); DROP TABLE decisions;--")) == 0
    assert log.get_statistics()["total"] == 4


def test_facets(log: PolicyDecisionLog) -> None:
    run_id = log.start_run(model_name="gemma")
    log.log_decision(make_decision(0, model_name="phi", prompt_version="v3", run_id=run_id))
    log.log_decision(make_decision(1, model_name="gemma", prompt_version="v1"))
    assert DecisionQueries(log).facets() == {
        "model_name": ["gemma", "phi"], "prompt_version": ["v1", "v3"], "run_id": [run_id]}


def test_filter_rejects_unknown_view_and_sort() -> None:
    with pytest.raises(ValueError, match="unknown view"):
        DecisionFilter(view="everything")
    with pytest.raises(ValueError, match="unknown sort"):
        DecisionFilter(sort="random")


def _plans(log: PolicyDecisionLog, action: Callable[[], object]) -> list[str]:
    """EXPLAIN QUERY PLAN of every SELECT on ``decisions`` that ``action`` runs."""
    statements: list[str] = []
    connection = log.database.connection()
    connection.set_trace_callback(statements.append)
    try:
        action()
    finally:
        connection.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.startswith("SELECT") and '"decisions"' in sql:
            rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            plans.append(" | ".join(row[3] for row in rows))
    assert plans, statements
    return plans


@pytest.mark.sqlite_file  # SQLite's query planner
def test_review_queries_are_index_ranges_without_sorting(log: PolicyDecisionLog) -> None:
    """The queries the review queue runs on every scroll stay O(page) at any size."""
    decisions = populate(log, 5, count=60)
    queries = DecisionQueries(log)
    middle = sorted(decisions, key=lambda d: (d.timestamp, d.decision_id))[30]
    unreviewed = DecisionFilter(view="unreviewed")
    least = DecisionFilter(view="unreviewed", sort="least_confident")
    most = DecisionFilter(view="unreviewed", sort="most_confident")
    cases: dict[str, Callable[[], object]] = {
        "unreviewed": lambda: log.get_unreviewed_decisions(limit=200),
        "incorrect": lambda: log.get_incorrect_decisions(limit=200),
        "first page": lambda: queries.page(unreviewed, limit=10),
        "deep page": lambda: queries.page(
            unreviewed, after=(middle.timestamp, middle.decision_id or ""), limit=10),
        "least confident": lambda: queries.page(least, limit=10),
        "least confident, deep": lambda: queries.page(least, after=(0.5, "dec_2"), limit=10),
        "least confident, in nulls": lambda: queries.page(least, after=(None, "dec_2"), limit=10),
        "most confident, deep": lambda: queries.page(most, after=(0.5, "dec_2"), limit=10),
    }
    for name, action in cases.items():
        for plan in _plans(log, action):
            assert "USING" in plan and "INDEX" in plan, (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)
    for name in ("deep page", "least confident, deep", "most confident, deep"):
        assert any("<" in plan or ">" in plan for plan in _plans(log, cases[name])), name
    (plan,) = _plans(log, log.get_statistics)
    assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan
    (plan,) = _plans(log, lambda: queries.view_counts(DecisionFilter()))
    assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan


def test_missing_speed_indexes_are_added_on_open(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    import sqlite3

    connection = sqlite3.connect(db_path)
    connection.execute("DROP INDEX idx_reviewed_confidence")
    connection.close()
    with PolicyDecisionLog(db_path, create=False) as log:
        names = {index.name for index in log.database.get_indexes("decisions")}
    assert "idx_reviewed_confidence" in names


def test_changed_and_retired_indexes_are_fixed_on_open(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    import sqlite3

    connection = sqlite3.connect(db_path)
    connection.execute("DROP INDEX idx_statistics")
    connection.execute("CREATE INDEX idx_statistics ON decisions (decision, reviewed)")
    connection.execute("CREATE INDEX idx_model_prompt ON decisions (model_name, prompt_version)")
    connection.close()
    with PolicyDecisionLog(db_path) as log:
        indexes = {index.name: index.columns for index in log.database.get_indexes("decisions")}
    assert "idx_model_prompt" not in indexes
    assert tuple(indexes["idx_statistics"]) == EXTRA_INDEXES["idx_statistics"]
    assert len(EXTRA_INDEXES["idx_statistics"]) > 2


@pytest.mark.sqlite_file  # SQLite's query planner
def test_facets_read_a_covering_index(log: PolicyDecisionLog) -> None:
    populate(log, 11, count=40)
    queries = DecisionQueries(log)
    (plan,) = _plans(log, queries.facets)
    assert "COVERING INDEX" in plan
    facets = queries.facets()
    decisions = log.get_all_decisions()
    assert facets["model_name"] == sorted({d.model_name for d in decisions})
    assert facets["prompt_version"] == sorted({d.prompt_version for d in decisions})


@pytest.mark.sqlite_file  # SQLite's query planner
def test_filter_bar_facets_page_in_index_order(log: PolicyDecisionLog) -> None:
    """A facet never makes the planner sort: model and decision filters walk the time
    index (no index may lead with them), a run filter walks the run's own index."""
    populate(log, 12, count=40)
    queries = DecisionQueries(log)
    for view in ("all", "unreviewed"):
        for extra in ({"model_name": "phi"}, {"decision": "deny"}, {"prompt_version": "v1"}):
            flt = DecisionFilter(view=view, **extra)
            for plan in _plans(log, lambda flt=flt: queries.page(flt, limit=10)):
                assert "TEMP B-TREE" not in plan and "INDEX idx_" in plan, (flt, plan)
    for view in VIEWS:
        flt = DecisionFilter(view=view, run_id="run_a")
        for plan in _plans(log, lambda flt=flt: queries.page(flt, limit=10)):
            assert "idx_run_timestamp" in plan and "TEMP B-TREE" not in plan, (view, plan)
    counts_plan = _plans(log, lambda: queries.view_counts(DecisionFilter(model_name="phi")))
    assert all("COVERING INDEX idx_statistics" in plan for plan in counts_plan)


def test_every_facet_is_a_filter_field_a_column_and_a_menu(log: PolicyDecisionLog) -> None:
    populate(log, 3)
    queries = DecisionQueries(log)
    menus = queries.facets()
    assert tuple(menus) == FACETS
    for facet in FACETS:
        value = menus[facet][0] if menus[facet] else "run_a"  # populate records no runs
        flt = DecisionFilter(view="all", **{facet: value})
        rows, _ = queries.page(flt, limit=500)
        assert rows and all(getattr(row, facet) == value for row in rows), facet
        assert queries.count(flt) == len(rows)
