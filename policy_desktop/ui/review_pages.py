"""Which page the Review tab shows, and the "all done — next queue?" offer (no widgets).

The table, the welcome panel (no decisions at all) or the empty-view message (this
filter has none); once every decision of a work view is reviewed, a line above the
table says so and offers unreviewed work elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy_desktop.store.queries import FAILURES
from policy_desktop.ui.filter_bar import VIEW_LABELS
from policy_desktop.ui.view_counts import Counts

TABLE_PAGE, WELCOME_PAGE, EMPTY_PAGE = 0, 1, 2
EMPTY_VIEW_TEXT: dict[str, tuple[str, str]] = {
    "unreviewed": ("All caught up", "Every decision in this view has been reviewed."),
    "incorrect": ("Nothing incorrect", "No decision here missed its expected decision."),
    "corrections": ("No corrections yet", "Decisions you correct will be listed here."),
    "reviewed": ("Nothing reviewed yet", "Decisions you review will be listed here."),
    "all": ("No decisions", "No decision matches."),
    "failures": ("No failures", "Every decision of this run passed."),
}
NO_MATCH = ("No decisions match", "Change the search or clear the filters.")
WORK_VIEWS = ("unreviewed", "incorrect", "all", FAILURES)
"""Views whose decisions are there to be reviewed (the others list reviews)."""


@dataclass(frozen=True)
class NextQueue:
    """The work offered when a view is done: another view, or (None) clearing the filters."""

    label: str
    view: str | None


def choose_page(counts: Counts | None, view: str, rows: int, loading: bool,
                filtered: bool) -> tuple[int, tuple[str, str] | None]:
    """The page to show, and the empty-view message's title and text for :data:`EMPTY_PAGE`.

    ``filtered``: a search or facet narrows the view (its "clear" button shows).
    """
    if counts is not None and counts.total == 0:
        return WELCOME_PAGE, None
    if rows == 0 and not loading and counts is not None:
        if counts.views["all"] == 0 or filtered:
            return EMPTY_PAGE, NO_MATCH
        return EMPTY_PAGE, EMPTY_VIEW_TEXT[view]
    return TABLE_PAGE, None


def next_queue(counts: Counts | None, view: str, filtered: bool) -> NextQueue | None:
    """The queue to offer when this one is done: unreviewed work elsewhere."""
    if counts is None:
        return None
    waiting = counts.views.get("unreviewed", 0)
    if view != "unreviewed" and waiting:
        return NextQueue(f"Next: Unreviewed ({waiting:,})", "unreviewed")
    if filtered:
        return NextQueue("Clear the filters", None)
    return None


def queue_done_text(counts: Counts | None, view: str, rows: int, welcome: bool) -> str | None:
    """"All done" once every decision of a work view is reviewed (None: not done)."""
    if counts is None or counts.left != 0 or view not in WORK_VIEWS or welcome \
            or counts.total <= 0:
        return None
    if view == "unreviewed" or not rows:
        return "✓ Nothing left to review here."
    return f"✓ All done: every decision in {VIEW_LABELS[view]} is reviewed."
