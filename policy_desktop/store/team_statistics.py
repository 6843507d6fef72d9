"""The Statistics tab's team figures, gathered in one go off the GUI thread.

Read-only: a log never used by a team (no team tables) gives empty figures and writes
nothing. Meant for the window's database thread, like
:func:`~policy_desktop.store.analytics.collect_statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from policy_desktop.store.analytics import StatisticsData, collect_statistics
from policy_desktop.store.assignments import Assignments
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.review_queue import overlap_percent
from policy_desktop.store.team import AgreementReport, ReviewerFigures, ReviewTeam


@dataclass(frozen=True)
class TeamStatistics:
    """Agreement on the overlap sample, the adjudication queue, each reviewer's work."""

    overlap_percent: float
    agreement: AgreementReport
    awaiting_adjudication: int
    """Disagreements of the overlap sample nobody adjudicated yet."""
    reviewers: list[ReviewerFigures]
    """Alphabetically (a team view, not a ranking)."""
    assigned_open: dict[str, int] = field(default_factory=dict)
    """Unreviewed decisions in each reviewer's assigned queue."""

    @property
    def has_team(self) -> bool:
        """True once anyone has a name on the team (reviewed, claimed or was added)."""
        return bool(self.reviewers)


@dataclass(frozen=True)
class TeamStatisticsData(StatisticsData):
    """:class:`StatisticsData` with the team's figures (``team``)."""

    team: TeamStatistics | None = None


def collect_team_statistics(log: PolicyDecisionLog) -> TeamStatistics:
    """Read the team's figures from ``log`` in one read transaction."""
    with log.database.atomic():
        agreement, awaiting, reviewers = ReviewTeam(log).overview()
        assigned: dict[str, int] = {}
        for assignment in Assignments(log).assignments():
            assigned[assignment.reviewer] = assigned.get(assignment.reviewer, 0) + assignment.open
        return TeamStatistics(overlap_percent(log), agreement, awaiting, reviewers, assigned)


def collect_statistics_with_team(log: PolicyDecisionLog) -> TeamStatisticsData:
    """Everything the Statistics tab shows: the seed's statistics and the team's."""
    with log.database.atomic():  # one read: the two parts agree with each other
        base = collect_statistics(log)
        values = {f.name: getattr(base, f.name) for f in fields(StatisticsData)}
        return TeamStatisticsData(**values, team=collect_team_statistics(log))
