"""What a write or an outside change touched, so each view re-reads only its part (no Qt).

Every write the window makes (a review, an undo, accepting a selection, an import), the
revision poll and opening a database describe what they changed as a :class:`Changes`;
:class:`policy_desktop.ui.review_writes.ReviewWrites` emits it as ``changed`` and the
table, the panel's read-ahead, the counts and filter menus, and the statistics each
subscribe and re-read their own part, instead of each job writing a refresh sequence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    """Which decisions, reviews and runs changed.

    Attributes:
        decisions: new decisions were stored (rows, counts and the filter menus' models,
            prompt versions and runs may all differ).
        reviews: reviews were written or undone (rows and counts differ; the filter
            menus do not).
        runs: a run was recorded or changed status.
        unknown: something changed outside this window (another process wrote):
            treat everything as changed.
        decision_ids: the decisions known to be touched (empty: not known which).
        opened: another database was opened: nothing held belongs to it (the table
            starts again from its first page, undo forgets the old database).
    """

    decisions: bool = False
    reviews: bool = False
    runs: bool = False
    unknown: bool = False
    decision_ids: frozenset[str] = frozenset()
    opened: bool = False

    @classmethod
    def everything(cls) -> Changes:
        """An outside change: nothing is known about what it touched."""
        return cls(unknown=True)

    @classmethod
    def database_opened(cls) -> Changes:
        """Another database is open: everything is new."""
        return cls(unknown=True, opened=True)

    @classmethod
    def reviewed(cls, *decision_ids: str) -> Changes:
        """The reviews of ``decision_ids`` changed (none given: of some decisions)."""
        return cls(reviews=True, decision_ids=frozenset(decision_ids))

    def __or__(self, other: Changes) -> Changes:
        return Changes(decisions=self.decisions or other.decisions,
                       reviews=self.reviews or other.reviews, runs=self.runs or other.runs,
                       unknown=self.unknown or other.unknown,
                       decision_ids=self.decision_ids | other.decision_ids,
                       opened=self.opened or other.opened)

    @property
    def empty(self) -> bool:
        """Nothing changed."""
        return not (self.decisions or self.reviews or self.runs or self.unknown)

    @property
    def rows(self) -> bool:
        """The table's rows and the view counts may differ."""
        return self.decisions or self.reviews or self.unknown

    @property
    def facets(self) -> bool:
        """The filter menus (models, prompt versions, runs) may differ."""
        return self.decisions or self.runs or self.unknown
