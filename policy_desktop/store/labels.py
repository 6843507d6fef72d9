"""The classifications a log holds, for the review form's list (read off the GUI thread)."""

from __future__ import annotations

import peewee as pw

from policy_desktop.store.failures import guarded_method
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.rows import tuple_rows

KNOWN_LIMIT = 200
"""Classifications offered at most (the most frequent)."""


@guarded_method
def known_classifications(log: PolicyDecisionLog, limit: int = KNOWN_LIMIT) -> list[str]:
    """The model's and the reviewers' classifications, most frequent first (ties by name)."""
    Decision = log.models.Decision
    counts: dict[str, int] = {}
    scanned = max(limit * 5, 1000)  # bounds a log of many one-off labels; ranks the rest
    for column in (Decision.classification, Decision.review_classification):
        count = pw.fn.COUNT(pw.SQL("*"))
        query = (Decision.select(column, count).where(column.is_null(False))
                 .group_by(column).order_by(count.desc()).limit(scanned))
        for name, number in tuple_rows(query):
            if isinstance(name, str) and name.strip():
                counts[name.strip()] = counts.get(name.strip(), 0) + number
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:limit]]
