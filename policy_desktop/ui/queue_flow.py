"""The window's review flow on the team's shared queue.

In a queue view (Unreviewed, without search or facets) with Review → Team queue on,
the panel shows the reviewer's claims one after the other instead of the next table
row: a first review selects its row, a blind second opinion of the overlap sample is
shown without the first review and with the model's answer hidden until a decision is
chosen (as blind review does). A review of any other row stays possible and is written
directly. A refused review (the lease was taken over, or someone reviewed it outside the
queue meanwhile) is said above the panel and in the status bar, and the flow moves on.

The queue turns itself on for a database a team already works (its team tables exist).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.errors import ClaimLostError
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.review_queue import Claim
from policy_desktop.store.team_tables import has_team_tables
from policy_desktop.ui.panel_feed import PanelFeed
from policy_desktop.ui.queue_bar import QueueBar
from policy_desktop.ui.queue_desk import QueueDesk
from policy_desktop.ui.selection_keeper import SelectionKeeper
from policy_desktop.ui.tasks import DbExecutor

CONFLICTS: tuple[type[BaseException], ...] = (ClaimLostError,)  # ReviewedMeanwhile included
QUEUE_VIEWS = ("unreviewed",)


def is_queue_view(flt: DecisionFilter) -> bool:
    """Whether the team queue serves ``flt``: it hands out every unreviewed decision
    (newest first), so a search or facet narrowing the view reviews directly."""
    narrowed = any((flt.text.strip(), flt.decision, flt.model_name, flt.prompt_version,
                    flt.run_id))
    return flt.view in QUEUE_VIEWS and not narrowed


def _uses_team_queue(log: PolicyDecisionLog) -> bool:
    return has_team_tables(log.database)


class QueueFlow(QObject):
    """Feeds the review panel from :class:`QueueDesk` in queue views.

    Args:
        executor: the database thread.
        desk: the claims.
        selection: selects a claimed decision's row.
        feed: what the panel shows.
        panel: the review panel (``set_blind_review``).
        bar: the queue's line above the panel.
        current_filter: the window's filter.
        reviewer: the reviewer's name (asked for when unknown; "" when refused).
        known_reviewer: the reviewer's name if known, never asking ("" if not).
        blind: whether the reviewer chose blind review.
        report: a status-bar line.
        parent: the owner.

    Signals:
        enabled_changed(bool): Review → Team queue turned on or off.
    """

    enabled_changed = Signal(bool)

    def __init__(self, executor: DbExecutor, desk: QueueDesk, selection: SelectionKeeper,
                 feed: PanelFeed, panel: Any, bar: QueueBar,
                 current_filter: Callable[[], DecisionFilter], reviewer: Callable[[], str],
                 known_reviewer: Callable[[], str], blind: Callable[[], bool],
                 report: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self.desk = desk
        self._selection = selection
        self._feed = feed
        self._panel = panel
        self._bar = bar
        self._filter = current_filter
        self._reviewer = reviewer
        self._known_reviewer = known_reviewer
        self._blind = blind
        self._report = report
        desk.current_changed.connect(self._show)
        desk.counted.connect(bar.show_counts)
        desk.failed.connect(self._failed)
        bar.pool_chosen.connect(desk.set_pool)
        feed.displayed.connect(self._say_state)

    # --- on and off -------------------------------------------------------------------

    def set_enabled(self, enabled: bool) -> None:
        """Review → Team queue: work the shared queue in queue views (or not); the
        reviewer's name is asked for if it is not known yet."""
        self.desk.enabled = enabled
        self.enabled_changed.emit(enabled)
        self.sync()

    def database_opened(self) -> None:
        """Work the queue when the new database's team already does (else as chosen);
        opening never asks for a name: without one the line says how to start."""
        def found(team: bool) -> None:
            if not team or self.desk.enabled:
                self.sync(ask=False)
            elif self._known_reviewer():
                self.set_enabled(True)
            else:
                self._bar.show_state("A team works this database's queue: Review → Work the "
                                     "team queue to join it")

        self._executor.submit(_uses_team_queue, found, lambda _error: self.sync(ask=False))

    def stop(self) -> None:
        """Give the claims back (another database is about to open)."""
        self.desk.stop()

    def sync(self, *, restart: bool = False, ask: bool = True) -> None:
        """Work the queue exactly when it is on and the filter is a queue view;
        ``restart`` gives the claims back first (the filter changed)."""
        wanted = self.desk.enabled and is_queue_view(self._filter())
        if restart or not wanted:
            self.desk.stop()
        if not wanted:
            self._bar.stop()
            return
        reviewer = self._reviewer() if ask else self._known_reviewer()
        if not reviewer:
            self._bar.show_state("Team queue: your name is needed to claim decisions "
                                 "(Edit → Preferences)")
            return
        self._bar.show_state("Team queue: claiming decisions…")
        self.desk.start(reviewer)

    # --- reviewing --------------------------------------------------------------------

    def write_for(self, decision_id: str, arguments: dict[str, Any]
                  ) -> Callable[[PolicyDecisionLog], str] | None:
        """The job saving a review of one of the reviewer's claims through the queue
        (None: not a claim, written directly)."""
        claim = self.desk.claim_of(decision_id) if self.desk.active else None
        return None if claim is None else self.desk.write_job(claim, arguments)

    def moved_on(self, decision_id: str, *, skipped: bool = False) -> bool:
        """After a review or a skip: on to the next claim. False when the queue is not
        being worked (the table's next row follows instead)."""
        if not self.desk.active:
            return False
        if self.desk.claim_of(decision_id) is not None:
            self.desk.done_with(decision_id, skipped=skipped)
        else:  # a direct review of another row: back to the queue
            self._show(self.desk.current)
        return True

    def conflicted(self, decision_id: str, reason: str) -> None:
        """A review was refused: say so where the reviewer looks (the flow moved on)."""
        self._bar.show_conflict(f"Not saved: {reason}.")
        self._report(f"Not saved: {reason}")

    # --- showing ----------------------------------------------------------------------

    def _show(self, claim: Claim | None) -> None:
        if claim is None:
            self._selection.pin(None)
            self._panel.set_blind_review(self._blind())
            self._say_state()
            return
        if claim.second_opinion:  # blind to the first review and to the model's answer
            self._selection.clear()  # not a row of the table: none looks chosen
            self._panel.set_blind_review(True)
            self._feed.show_record(claim.decision)
            self._selection.pin(claim.decision_id)
        else:
            self._selection.pin(None)
            if not self._selection.select_decision(claim.decision_id):
                self._selection.clear()
            self._selection.show(claim.decision_id)
            self._panel.set_blind_review(self._blind())
        self._say_state()

    def _say_state(self) -> None:
        if not self.desk.active:
            return
        shown, held = self._feed.shown_id, len(self.desk.claims)
        claim = self.desk.claim_of(shown)
        if self.desk.claiming:
            text = "Team queue · claiming decisions…"
        elif claim is not None and claim.second_opinion:
            text = ("Team queue · second opinion: the first review and the model's answer "
                    "are hidden until you choose a decision")
        elif claim is not None:
            text = f"Team queue · {held} decision{'s' if held != 1 else ''} claimed for you"
        elif not held:
            text = ("Team queue · nothing left for you here: every decision of this pool is "
                    "reviewed or claimed by another reviewer")
        else:
            text = ("Team queue · this decision is not one of your claims: a review here is "
                    "written directly (another reviewer may hold it)")
        self._bar.show_state(text)

    def _failed(self, message: str) -> None:
        self._bar.show_conflict(message)
        self._report(message)
