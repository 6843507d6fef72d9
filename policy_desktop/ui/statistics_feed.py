"""The Statistics tab as a subscriber of the window's changes: re-computed on the
database thread when it is on show, else marked stale until it is shown again.

A view with its own ``bind(executor, collect)`` and ``refresh()`` (the real
:class:`~policy_desktop.ui.statistics_view.StatisticsView`) keeps that bookkeeping
itself: each change is one ``refresh()``. Any other view gets ``set_data`` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.changes import Changes
from policy_desktop.ui.tasks import DbExecutor


class StatisticsFeed(QObject):
    """Feeds ``view.set_data`` with ``collect(log)``.

    Args:
        executor: the database thread.
        view: the statistics view (its public ``set_data``).
        collect: computes the view's data from the log (on the database thread).
        visible: whether the view is the tab on show.
        report: shows a one-line problem.
        parent: the owner.
    """

    def __init__(self, executor: DbExecutor, view: Any,
                 collect: Callable[[PolicyDecisionLog], object],
                 visible: Callable[[], bool], report: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._view = view
        self._collect = collect
        self._visible = visible
        self._report = report
        self.stale = True
        self._open = False
        self._self_refreshing = callable(getattr(view, "bind", None)) and callable(
            getattr(view, "refresh", None))
        if self._self_refreshing:
            view.bind(executor, collect)

    def apply(self, changes: Changes) -> None:
        """Subscriber of ``changed``: stale after any change; recomputed at once only when
        on show and the runs or decisions changed (reviews are made off that tab)."""
        if changes.empty:
            return
        if changes.opened:
            self._open = True
        if self._self_refreshing:
            self._view.refresh()  # hidden: it only marks itself stale
            return
        self.stale = True
        if changes.facets and self._visible():
            self.refresh()

    def shown(self) -> None:
        """The tabs changed: compute when the view came into sight stale."""
        if not self._self_refreshing and self._visible() and self.stale:
            self.refresh()

    def refresh(self) -> None:
        """Compute the statistics now (nothing before a database is open)."""
        if not self._open:
            return
        if self._self_refreshing:
            self._view.refresh()
            return
        self.stale = False
        self._executor.submit(self._collect, self._view.set_data,
                              lambda e: self._report(f"Cannot compute statistics: {e}"))
