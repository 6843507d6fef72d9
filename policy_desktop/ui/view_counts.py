"""The view counts and filter menus of the window's filter, read on the database thread.

Requests coalesce: while one count is in flight, further requests make one more
count when it returns, and a count for a filter that changed meanwhile is dropped
and read again. :meth:`ViewCounts.apply` subscribes to the window's changes;
the filter bar, the status bar and the window's page listen to ``changed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import FAILURES, DecisionFilter, DecisionQueries
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.tasks import DbExecutor


@dataclass(frozen=True)
class Counts:
    views: dict[str, int]
    total: int
    revision: int
    left: int  # unreviewed decisions in the current view: 0 = this queue is done


def counts_job(flt: DecisionFilter) -> Callable[[PolicyDecisionLog], Counts]:
    def job(log: PolicyDecisionLog) -> Counts:
        revision = log.revision()
        queries = DecisionQueries(log)
        views = queries.view_counts(flt)
        faceted = any((flt.text.strip(), flt.decision, flt.model_name, flt.prompt_version,
                       flt.run_id))
        total = queries.count(DecisionFilter(view="all")) if faceted else views["all"]
        if flt.view == FAILURES:
            views[FAILURES] = queries.count(flt)
        # Only the views that mix reviewed and unreviewed rows need one more count.
        left = {"unreviewed": views["unreviewed"], "all": views["unreviewed"],
                "reviewed": 0, "corrections": 0}.get(flt.view)
        if left is None:
            left = queries.unreviewed_count(flt)
        return Counts(views, total, revision, left)

    return job


def facets_job(log: PolicyDecisionLog) -> dict[str, list[str]]:
    return DecisionQueries(log).facets()


class ViewCounts(QObject):
    """Counts and facets for ``current_filter()``, coalesced.

    Signals:
        changed(counts): fresh :class:`Counts` for the current filter.
        facets_changed(facets): the filter menus' values.
        failed(message): a count or the menus could not be read.
    """

    changed = Signal(object)
    facets_changed = Signal(object)
    failed = Signal(str)

    def __init__(self, executor: DbExecutor, current_filter: Callable[[], DecisionFilter],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._current_filter = current_filter
        self.current: Counts | None = None
        self._in_flight = False
        self._dirty = False

    def forget(self) -> None:
        """Another database: the counts held are not its counts."""
        self.current = None

    def apply(self, changes: Changes) -> None:
        """Subscriber of the window's ``changed``: count and read the menus again as
        ``changes`` require (another database: forget the old counts first)."""
        if changes.opened:
            self.forget()
        if changes.rows:
            self.refresh()
        if changes.facets:
            self.refresh_facets()

    def refresh(self) -> None:
        """Count again (once more after the count in flight, if one is)."""
        if self._in_flight:
            self._dirty = True
            return
        self._in_flight = True
        flt = self._current_filter()
        self._executor.submit(counts_job(flt), lambda c: self._counted(flt, c),
                              self._count_failed)

    def refresh_facets(self) -> None:
        """Read the filter menus' values again."""
        self._executor.submit(facets_job, self.facets_changed.emit,
                              lambda e: self.failed.emit(f"Cannot read the filter menus: {e}"))

    def _counted(self, flt: DecisionFilter, counts: Counts) -> None:
        self._in_flight = False
        stale = replace(self._current_filter(), sort=flt.sort) != flt  # the order counts nothing
        if self._dirty or stale:
            self._dirty = False
            self.refresh()
            if stale:
                return
        self.current = counts
        self.changed.emit(counts)

    def _count_failed(self, error: BaseException) -> None:
        self._in_flight = False
        self.failed.emit(f"Cannot count decisions: {error}")
