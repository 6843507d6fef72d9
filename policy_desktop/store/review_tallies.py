"""Review tallies: reviewed and corrected counts per model or prompt version, accepted counts."""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from policy_desktop.store.decision import CORRECTION_ACTIONS
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.rows import dict_rows

GROUPINGS: dict[str, tuple[str, ...]] = {
    "model": ("model_name", "model_version"),
    "prompt_version": ("prompt_version",),
}


@dataclass(frozen=True)
class ReviewCount:
    """Reviewed decisions and how many of them were corrections, for one group."""

    labels: dict[str, str | None]
    reviewed: int
    corrections: int


def review_counts(log: PolicyDecisionLog, grouping: str) -> list[ReviewCount]:
    """Reviewed and corrected decisions per model (name, version) or per prompt version.

    ``grouping`` is a key of :data:`GROUPINGS`. Groups come sorted by their labels.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    Decision = log.models.Decision
    columns = [getattr(Decision, name) for name in GROUPINGS[grouping]]
    is_correction = pw.Case(None, [(Decision.review_action.in_(CORRECTION_ACTIONS), 1)], 0)
    query = (Decision.select(*columns, pw.fn.COUNT(pw.SQL("*")).alias("reviewed"),
                             pw.fn.SUM(is_correction).alias("corrections"))
             .where(Decision.reviewed == 1).group_by(*columns).order_by(*columns))
    return [ReviewCount(labels={name: row[name] for name in GROUPINGS[grouping]},
                        reviewed=int(row["reviewed"]), corrections=int(row["corrections"] or 0))
            for row in dict_rows(query)]


def count_accepted(log: PolicyDecisionLog) -> int:
    """Decisions a reviewer accepted as correct."""
    Decision = log.models.Decision
    return Decision.select().where(Decision.review_action == "accept").count()
