"""Aggregates for the statistics view: accuracy per run, confusion matrices, review types.

Qt-free; meant to run on the background database thread. Every number comes from
one read transaction so the parts of a :class:`StatisticsData` agree with each other.

Replay answers (the decisions of a replay run, see :mod:`policy_desktop.store.replay`)
answer again what production already decided: they are left out of every count that
describes the production model (totals, distribution, review types, both matrices) and
counted apart (:attr:`StatisticsData.replays`); their runs stay in the accuracy per run,
marked ``replay``. The training gate still counts every correction in the database, as
the export does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from policy_desktop.store.decision import CORRECTION_ACTIONS, REVIEW_ACTIONS
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.replay_answers import replay_condition
from policy_desktop.store.rows import dict_rows, tuple_rows
from policy_desktop.vocabulary import TRAINING_GATE

TALLIED: tuple[str, ...] = ("total", "reviewed", "corrections", "accepted", "correct",
                            "evaluated")


@dataclass(frozen=True)
class RunAccuracy:
    """How often one run's decisions matched their expected decision.

    ``started`` is the run's start time (ISO-8601), or the time of its first
    decision when the run is not in the ``runs`` table (imported decisions).
    ``accuracy`` is None when none of its decisions had an expected decision.
    ``replay`` is True for a replay run (its decisions are replay answers).
    """

    run_id: str
    started: str
    prompt_version: str | None
    model_name: str | None
    evaluated: int
    correct: int
    accuracy: float | None
    replay: bool = False


@dataclass(frozen=True)
class ReplayTally:
    """The replay answers, counted apart from production: how many, in how many runs,
    and how many of them were reviewed and corrected."""

    runs: int = 0
    answers: int = 0
    reviewed: int = 0
    corrections: int = 0


@dataclass(frozen=True)
class StatisticsData:
    """Everything the statistics view shows, gathered in one go.

    Args:
        statistics: :meth:`PolicyDecisionLog.get_statistics`'s keys over the production
            decisions (replay answers left out); ``training_gate``, ``corrections_needed``
            and ``training_ready`` are the export gate's (every correction), and
            ``gate_corrections`` is the count that gate compares.
        accuracy_by_run: runs that logged decisions, oldest first.
        confusion: ``(expected decision, model decision) -> count`` over decisions
            with an expected decision.
        corrections_by_type: current review action -> count; always has the four
            keys ``accept``, ``correct_decision``, ``correct_reasoning``, ``correct_both``.
        decision_flips: ``(model decision, reviewer decision) -> count`` over the
            decisions whose decision a reviewer corrected (the correction pattern).
    """

    statistics: dict[str, Any]
    accuracy_by_run: list[RunAccuracy]
    confusion: dict[tuple[str, str], int]
    corrections_by_type: dict[str, int]
    decision_flips: dict[tuple[str, str], int] = field(default_factory=dict)
    replays: ReplayTally = field(default_factory=ReplayTally)


def collect_statistics(log: PolicyDecisionLog) -> StatisticsData:
    """Read every aggregate of the statistics view from ``log``."""
    with log.database.atomic():
        replay_runs = _replay_run_ids(log)
        statistics, replays = production_statistics(log, len(replay_runs))
        return StatisticsData(
            statistics=statistics,
            accuracy_by_run=accuracy_by_run(log, replay_runs),
            confusion=confusion_counts(log),
            corrections_by_type=corrections_by_type(log),
            decision_flips=decision_flips(log),
            replays=replays,
        )


def _replay_run_ids(log: PolicyDecisionLog) -> set[str]:
    """The replay runs' ids, read without creating the replay tables."""
    condition = replay_condition(log.database, log.models.Run, replays=True)
    if condition is None:
        return set()
    Run = log.models.Run
    return {row[0] for row in tuple_rows(Run.select(Run.run_id).where(condition))}


Indexed = Callable[[pw.Field], Any]


def _counts_without_replays(log: PolicyDecisionLog,
                            build: Callable[[Indexed], Any]) -> dict[tuple[Any, ...], int]:
    """The query ``build`` makes (grouping columns, then a count) as ``groups -> count``
    over the production decisions: every decision's counts minus the replay answers'.

    Subtracting keeps the full count on the index it was designed for (``run_id`` is in
    none of the covering indexes, so ``NOT IN`` would read every row) and reads the replay
    answers by run: the cost of what the replays hold, not a second pass over the log.
    ``build`` wraps its indexed filter columns in the function it is given: for the
    replay answers on SQLite that hides their index (``column || ''``), or the planner
    walks 300,000 reviewed rows of ``idx_action_timestamp`` instead of the replay's runs.
    """
    counts: dict[tuple[Any, ...], int] = {}
    for *groups, count in tuple_rows(build(lambda column: column)):
        counts[tuple(groups)] = count
    condition = replay_condition(log.database, log.models.Decision, replays=True)
    if condition is None:
        return counts
    steer = isinstance(log.database, pw.SqliteDatabase)

    def unindexed(column: pw.Field) -> Any:
        return pw.NodeList((column, pw.SQL("|| ''"))) if steer else column

    for *groups, count in tuple_rows(build(unindexed).where(condition)):
        counts[tuple(groups)] -= count
    return {groups: count for groups, count in counts.items() if count > 0}


def _tally(log: PolicyDecisionLog, condition: Any) -> dict[str, Any]:
    """The counts of :meth:`PolicyDecisionLog.get_statistics` over the decisions that
    match ``condition`` (grouped as there, summed here)."""
    Decision = log.models.Decision
    query = (Decision.select(Decision.decision, Decision.reviewed, Decision.review_action,
                             Decision.decision_correct, pw.fn.COUNT(pw.SQL("*")))
             .where(condition)
             .group_by(Decision.reviewed, Decision.decision_correct, Decision.review_action,
                       Decision.decision))
    totals: dict[str, Any] = dict.fromkeys(TALLIED, 0)
    distribution: dict[str, int] = {}
    actions: dict[str, int] = {}
    for decision, reviewed, action, correct, count in tuple_rows(query):
        distribution[decision] = distribution.get(decision, 0) + count
        totals["total"] += count
        totals["reviewed"] += count if reviewed else 0
        if action is not None:
            actions[action] = actions.get(action, 0) + count
            totals["corrections"] += count if action in CORRECTION_ACTIONS else 0
            totals["accepted"] += count if action == "accept" else 0
        if correct is not None:
            totals["evaluated"] += count
            totals["correct"] += count if correct else 0
    totals["decision_distribution"] = distribution
    totals["review_actions"] = actions
    return totals


def production_statistics(log: PolicyDecisionLog,
                          replay_runs: int | None = None) -> tuple[dict[str, Any], ReplayTally]:
    """:meth:`PolicyDecisionLog.get_statistics` without the replay answers, and the replay
    answers' own counts.

    The full statistics are one pass over the covering index ``idx_statistics``; the
    replay answers are read by run (``idx_run_timestamp``) and subtracted group by group,
    which costs what the replays hold rather than a second pass over the log.
    """
    stats = log.get_statistics()
    stats["gate_corrections"] = stats["corrections"]
    condition = replay_condition(log.database, log.models.Decision, replays=True)
    if condition is None:
        return stats, ReplayTally()
    if replay_runs is None:
        replay_runs = len(_replay_run_ids(log))
    replay = _tally(log, condition)
    for key in TALLIED:
        stats[key] -= replay[key]
    for key in ("decision_distribution", "review_actions"):
        counts = dict(stats[key])
        for value, count in replay[key].items():
            counts[value] = counts.get(value, 0) - count
        stats[key] = dict(sorted(((value, n) for value, n in counts.items() if n > 0),
                                 key=lambda kv: -kv[1]))
    stats["unreviewed"] = stats["total"] - stats["reviewed"]
    stats["incorrect"] = stats["evaluated"] - stats["correct"]
    stats["accuracy"] = stats["correct"] / stats["evaluated"] if stats["evaluated"] else None
    stats.setdefault("training_gate", TRAINING_GATE)
    return stats, ReplayTally(runs=replay_runs, answers=replay["total"],
                              reviewed=replay["reviewed"], corrections=replay["corrections"])


def accuracy_by_run(log: PolicyDecisionLog,
                    replay_runs: set[str] | None = None) -> list[RunAccuracy]:
    """Accuracy of every run that logged at least one decision, in time order; replay
    runs (``replay_runs``, read from the log when None) marked."""
    if replay_runs is None:
        replay_runs = _replay_run_ids(log)
    Decision, Run = log.models.Decision, log.models.Run
    query = (
        Decision.select(
            Decision.run_id,
            pw.fn.MIN(Decision.timestamp).alias("first"),
            pw.fn.MIN(Decision.prompt_version).alias("prompt_version"),
            pw.fn.MIN(Decision.model_name).alias("model_name"),
            pw.fn.COUNT(Decision.decision_correct).alias("evaluated"),
            pw.fn.SUM(Decision.decision_correct).alias("correct"),
        )
        .where(Decision.run_id.is_null(False))
        .group_by(Decision.run_id)
    )
    groups = list(dict_rows(query))
    runs = {row["run_id"]: row for row in dict_rows(Run.select(
        Run.run_id, Run.started, Run.prompt_version, Run.model_name))}
    result = []
    for group in groups:
        run: dict[str, Any] = runs.get(group["run_id"], {})
        evaluated = int(group["evaluated"] or 0)
        correct = int(group["correct"] or 0)
        result.append(RunAccuracy(
            run_id=group["run_id"],
            started=run.get("started") or group["first"],
            prompt_version=run.get("prompt_version") or group["prompt_version"],
            model_name=run.get("model_name") or group["model_name"],
            evaluated=evaluated,
            correct=correct,
            accuracy=correct / evaluated if evaluated else None,
            replay=group["run_id"] in replay_runs,
        ))
    result.sort(key=lambda run: (run.started, run.run_id))
    return result


def confusion_counts(log: PolicyDecisionLog) -> dict[tuple[str, str], int]:
    """``(expected decision, model decision) -> count`` over the production decisions with
    an expectation (replay answers left out)."""
    Decision = log.models.Decision
    def query(_indexed: Indexed) -> Any:  # expected_decision has no index
        return (Decision.select(Decision.expected_decision, Decision.decision,
                                pw.fn.COUNT(pw.SQL("*")).alias("n"))
                .where(Decision.expected_decision.is_null(False))
                .group_by(Decision.expected_decision, Decision.decision))

    return {(expected, decision): n for (expected, decision), n in
            _counts_without_replays(log, query).items()}


def corrections_by_type(log: PolicyDecisionLog) -> dict[str, int]:
    """How many production decisions currently stand accepted or corrected, per review
    action (replay answers left out)."""
    Decision = log.models.Decision
    counts = dict.fromkeys(REVIEW_ACTIONS, 0)

    def query(indexed: Indexed) -> Any:
        return (Decision.select(Decision.review_action, pw.fn.COUNT(pw.SQL("*")).alias("n"))
                .where(indexed(Decision.review_action).in_(REVIEW_ACTIONS))
                .group_by(Decision.review_action))

    for (action,), n in _counts_without_replays(log, query).items():
        counts[action] = n
    return counts


def decision_flips(log: PolicyDecisionLog) -> dict[tuple[str, str], int]:
    """``(model decision, reviewer decision) -> count`` over corrected production decisions."""
    Decision = log.models.Decision

    def query(indexed: Indexed) -> Any:
        return (Decision.select(Decision.decision, Decision.review_decision,
                                pw.fn.COUNT(pw.SQL("*")).alias("n"))
                .where(indexed(Decision.review_action).in_(CORRECTION_ACTIONS)
                       & Decision.review_decision.is_null(False)
                       & (Decision.review_decision != Decision.decision))
                .group_by(Decision.decision, Decision.review_decision))

    return {(decision, reviewed): n for (decision, reviewed), n in
            _counts_without_replays(log, query).items()}
