"""Aggregates for the statistics view: accuracy per run, confusion matrices, review types.

Qt-free; meant to run on the background database thread. Every number comes from
one read transaction so the parts of a :class:`StatisticsData` agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from policy_desktop.store.decision import CORRECTION_ACTIONS, REVIEW_ACTIONS
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.rows import dict_rows


@dataclass(frozen=True)
class RunAccuracy:
    """How often one run's decisions matched their expected decision.

    ``started`` is the run's start time (ISO-8601), or the time of its first
    decision when the run is not in the ``runs`` table (imported decisions).
    ``accuracy`` is None when none of its decisions had an expected decision.
    """

    run_id: str
    started: str
    prompt_version: str | None
    model_name: str | None
    evaluated: int
    correct: int
    accuracy: float | None


@dataclass(frozen=True)
class StatisticsData:
    """Everything the statistics view shows, gathered in one go.

    Args:
        statistics: :meth:`PolicyDecisionLog.get_statistics`.
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


def collect_statistics(log: PolicyDecisionLog) -> StatisticsData:
    """Read every aggregate of the statistics view from ``log``."""
    with log.database.atomic():
        return StatisticsData(
            statistics=log.get_statistics(),
            accuracy_by_run=accuracy_by_run(log),
            confusion=confusion_counts(log),
            corrections_by_type=corrections_by_type(log),
            decision_flips=decision_flips(log),
        )


def accuracy_by_run(log: PolicyDecisionLog) -> list[RunAccuracy]:
    """Accuracy of every run that logged at least one decision, in time order."""
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
        ))
    result.sort(key=lambda run: (run.started, run.run_id))
    return result


def confusion_counts(log: PolicyDecisionLog) -> dict[tuple[str, str], int]:
    """``(expected decision, model decision) -> count`` over decisions with an expectation."""
    Decision = log.models.Decision
    query = (
        Decision.select(Decision.expected_decision, Decision.decision,
                        pw.fn.COUNT(pw.SQL("*")).alias("n"))
        .where(Decision.expected_decision.is_null(False))
        .group_by(Decision.expected_decision, Decision.decision)
    )
    return {(row["expected_decision"], row["decision"]): row["n"] for row in dict_rows(query)}


def corrections_by_type(log: PolicyDecisionLog) -> dict[str, int]:
    """How many decisions currently stand accepted or corrected, per review action."""
    Decision = log.models.Decision
    counts = dict.fromkeys(REVIEW_ACTIONS, 0)
    query = (
        Decision.select(Decision.review_action, pw.fn.COUNT(pw.SQL("*")).alias("n"))
        .where(Decision.review_action.in_(REVIEW_ACTIONS))
        .group_by(Decision.review_action)
    )
    for row in dict_rows(query):
        counts[row["review_action"]] = row["n"]
    return counts


def decision_flips(log: PolicyDecisionLog) -> dict[tuple[str, str], int]:
    """``(model decision, reviewer decision) -> count`` over corrected decisions."""
    Decision = log.models.Decision
    query = (
        Decision.select(Decision.decision, Decision.review_decision,
                        pw.fn.COUNT(pw.SQL("*")).alias("n"))
        .where(Decision.review_action.in_(CORRECTION_ACTIONS)
               & Decision.review_decision.is_null(False)
               & (Decision.review_decision != Decision.decision))
        .group_by(Decision.decision, Decision.review_decision)
    )
    return {(row["decision"], row["review_decision"]): row["n"] for row in dict_rows(query)}
