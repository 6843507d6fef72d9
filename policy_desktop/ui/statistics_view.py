"""The statistics tab: counts, training readiness, charts of decisions and reviews, and
the review team's agreement and per-reviewer figures.

Either the window gathers a :class:`~policy_desktop.store.analytics.StatisticsData`
(or a :class:`~policy_desktop.store.team_statistics.TeamStatisticsData`) on its database
thread and hands it to :meth:`StatisticsView.set_data`, or the view is bound to the
database thread once (:meth:`StatisticsView.bind`) and the window calls
:meth:`StatisticsView.refresh` on every change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store.analytics import ReplayTally, RunAccuracy, StatisticsData
from policy_desktop.store.decision import parse_timestamp
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.team_statistics import TeamStatistics, collect_statistics_with_team
from policy_desktop.ui.charts import Bar, bar_chart, line_chart, matrix_table
from policy_desktop.ui.decision_style import (
    DECISION_GLYPHS,
    decision_color,
    decision_short_label,
)
from policy_desktop.ui.detail_view import clear_layout, local_time, mute, plain_label
from policy_desktop.ui.team_figures import (
    by_month_table,
    by_type_table,
    coefficient,
    pairs_table,
    reviewers_table,
    share,
)
from policy_desktop.vocabulary import DECISIONS, TRAINING_GATE, UNPARSEABLE

MAX_RUNS_IN_CHART = 15
OTHER = "__other__"
REVIEW_TYPE_BARS: tuple[tuple[str, str, str], ...] = (
    ("accept", "Accepted", "#3b8a4a"),
    ("correct_decision", "Decision", "#c0453a"),
    ("correct_reasoning", "Reasoning", "#b07d12"),
    ("correct_both", "Both", "#7a4fa0"),
)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _bucket(value: str, known: tuple[str, ...]) -> str:
    """Known decision values stay; anything else (foreign databases) becomes "other"."""
    return value if value in known else OTHER


def _label(value: str) -> str:
    """Glyph and compact name, e.g. ``✎ Attestation``."""
    if value == OTHER:
        return "Other"
    return f"{DECISION_GLYPHS.get(value, '?')} {decision_short_label(value)}"


def _short(value: str) -> str:
    return "Other" if value == OTHER else decision_short_label(value)


PROMPT_LABEL_CHARS = 18


REPLAY_MARK = "(replay)"


def run_number(index: int, run: RunAccuracy) -> str:
    """``#3``, or ``#3 (replay)`` for a replay run."""
    return f"#{index} {REPLAY_MARK}" if run.replay else f"#{index}"


def _run_label(index: int, run: RunAccuracy) -> tuple[str, ...]:
    """``#3`` over ``Feb 02 08:05`` over the prompt version: which prompt each point measured."""
    prompt = run.prompt_version or "?"
    if len(prompt) > PROMPT_LABEL_CHARS:
        prompt = prompt[:PROMPT_LABEL_CHARS - 1] + "…"
    try:
        moment = parse_timestamp(run.started)
    except ValueError:
        return (run_number(index, run), prompt)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return (run_number(index, run), moment.strftime("%b %d %H:%M"), prompt)


def replay_note(replays: ReplayTally) -> str:
    """The line that says what the figures leave out (empty when nothing was replayed)."""
    if not replays.answers:
        return ""
    answers = f"{replays.answers:,} replay answer{'' if replays.answers == 1 else 's'}"
    runs = f"{replays.runs:,} replay run{'' if replays.runs == 1 else 's'}"
    return (f"↻ {answers} ({runs}) are left out of the figures, the decision and review "
            "charts and both matrices: they describe the production model's decisions. "
            f"Replay runs are marked {REPLAY_MARK} under Accuracy per run and in Runs.")


class Card(QFrame):
    """A bordered block with a title, a subtitle and content or an empty-state message."""

    def __init__(self, title: str, subtitle: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statsCard")
        self.setStyleSheet("QFrame#statsCard { background: palette(base);"
                           " border: 1px solid palette(mid); border-radius: 8px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(4)
        self.title = plain_label(title, wrap=False, selectable=False, object_name="cardTitle")
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.subtitle = mute(plain_label(subtitle, selectable=False, object_name="cardSubtitle"))
        self.subtitle.setVisible(bool(subtitle))
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        self.stack = QStackedWidget()
        self.empty = mute(plain_label("", selectable=False, object_name="emptyMessage"))
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMinimumHeight(120)
        self.content = QWidget()
        self.content_layout = QVBoxLayout(self.content)
        self.content_layout.setContentsMargins(0, 4, 0, 0)
        self.content_layout.setSpacing(6)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.content)
        layout.addWidget(self.stack, 1)

    def set_subtitle(self, text: str) -> None:
        """Replace the line under the title."""
        self.subtitle.setText(text)
        self.subtitle.setVisible(bool(text))

    def set_widgets(self, *widgets: QWidget) -> None:
        """Show ``widgets`` as the card's content (replacing the previous ones)."""
        clear_layout(self.content_layout)
        for widget in widgets:
            self.content_layout.addWidget(widget)
        self.stack.setCurrentWidget(self.content)

    def set_empty(self, message: str) -> None:
        """Show a calm empty-state message instead of content."""
        clear_layout(self.content_layout)
        self.empty.setText(message)
        self.stack.setCurrentWidget(self.empty)

    def is_empty(self) -> bool:
        """True while the empty-state message is shown."""
        return self.stack.currentWidget() is self.empty


class Figure(QFrame):
    """A headline number: caption, value and a detail line."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statsFigure")
        self.setStyleSheet("QFrame#statsFigure { background: palette(base);"
                           " border: 1px solid palette(mid); border-radius: 8px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 12)
        layout.setSpacing(2)
        self.caption = mute(plain_label(caption, wrap=False, selectable=False))
        self.value = plain_label("—", wrap=False, object_name="figureValue")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.9)
        font.setWeight(QFont.Weight.DemiBold)
        self.value.setFont(font)
        self.detail = mute(plain_label("", wrap=True, selectable=False))
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def set(self, value: str, detail: str = "") -> None:
        """Show ``value`` with an optional ``detail`` line."""
        self.value.setText(value)
        self.detail.setText(detail)


class Submitter(Protocol):
    """The database thread (:class:`~policy_desktop.ui.tasks.DbExecutor`)."""

    def submit(self, job: Callable[[PolicyDecisionLog], Any],
               on_done: Callable[[Any], None] | None = ...,
               on_error: Callable[[BaseException], None] | None = ...) -> None: ...


class StatisticsView(QWidget):
    """The statistics tab: :meth:`bind` it once and call :meth:`refresh` on every change
    (or hand it data with :meth:`set_data`).

    Signals:
        cell_clicked(expected, decided): the reviewer clicked a confusion-matrix cell
            and wants to see those decisions.
        decision_clicked(decision): a bar of the decision distribution (the production
            decisions the model answered ``decision``; replay answers left out).
        review_type_clicked(action): a bar of the reviews by change type (the production
            decisions whose current review action is ``action``, e.g. ``correct_both``).
        refreshed(): the numbers of a :meth:`refresh` are on show.
        refresh_failed(str): a :meth:`refresh` could not compute the numbers (the
            message is shown on the tab too).
    """

    cell_clicked = Signal(str, str)
    decision_clicked = Signal(str)
    review_type_clicked = Signal(str)
    refreshed = Signal()
    refresh_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statisticsView")
        self._data: StatisticsData | None = None
        self._executor: Submitter | None = None
        self._collect: Callable[[PolicyDecisionLog], StatisticsData] = (
            collect_statistics_with_team)
        self._computing = False
        self._again = False
        self._stale = False
        page = QWidget()
        page.setObjectName("statisticsPage")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(20, 16, 20, 20)
        layout.setSpacing(14)

        self.problem = plain_label(object_name="statisticsProblem")
        self.problem.setVisible(False)
        layout.addWidget(self.problem)

        figures = QHBoxLayout()
        figures.setSpacing(12)
        self.total = Figure("Decisions logged")
        self.reviewed = Figure("Reviewed")
        self.unreviewed = Figure("Waiting for review")
        self.accuracy = Figure("Model accuracy")
        self.corrections = Figure("Corrections")
        for figure in (self.total, self.reviewed, self.unreviewed, self.accuracy,
                       self.corrections):
            figures.addWidget(figure, 1)
        layout.addLayout(figures)
        self.replays = mute(plain_label(object_name="replayNote"))
        self.replays.setVisible(False)
        layout.addWidget(self.replays)

        self.readiness = Card("Training readiness")
        self.readiness_label = plain_label(object_name="readinessLabel")
        readiness_font = self.readiness_label.font()
        readiness_font.setBold(True)
        self.readiness_label.setFont(readiness_font)
        self.readiness_bar = QProgressBar()
        self.readiness_bar.setObjectName("trainingReadiness")
        self.readiness_bar.setTextVisible(False)
        self.readiness_bar.setFixedHeight(10)
        self._style_readiness(ready=False)
        self.readiness_detail = mute(plain_label(object_name="readinessDetail"))
        readiness_row = QWidget()
        row_layout = QVBoxLayout(readiness_row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        row_layout.setSpacing(6)
        row_layout.addWidget(self.readiness_label)
        row_layout.addWidget(self.readiness_bar)
        row_layout.addWidget(self.readiness_detail)
        self.readiness.set_widgets(readiness_row)
        self.readiness.empty.setMinimumHeight(0)
        layout.addWidget(self.readiness)
        layout.addWidget(self._build_team())

        self.distribution = Card("Decision distribution", "What the model answered")
        self.review_types = Card("Reviews by change type",
                                 "What reviewers did with the decisions they reviewed")
        self.accuracy_runs = Card("Accuracy per run",
                                  "Share of decisions matching the expected decision, "
                                  "oldest run on the left")
        self.confusion = Card("Expected vs model",
                              "Rows: the expected decision · columns: the model's answer · "
                              "the diagonal is right")
        self.flips = Card("Decision corrections",
                          "Rows: the model's answer · columns: the reviewer's decision")
        self.runs = Card("Runs", "Newest first")
        grid = QGridLayout()
        grid.setSpacing(14)
        grid.addWidget(self.distribution, 0, 0)
        grid.addWidget(self.review_types, 0, 1)
        grid.addWidget(self.accuracy_runs, 1, 0, 1, 2)
        grid.addWidget(self.confusion, 2, 0, 1, 2)
        grid.addWidget(self.flips, 3, 0, 1, 2)
        grid.addWidget(self.runs, 4, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setObjectName("statisticsScroll")
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.scroll_area = scroll
        self._show_statistics({})
        for card in (self.distribution, self.review_types, self.accuracy_runs, self.confusion,
                     self.flips, self.runs):
            card.set_empty("Loading…")

    def _build_team(self) -> QWidget:
        """The review team's cards (hidden until someone has a name on the team)."""
        self.team_section = QWidget()
        self.team_section.setObjectName("teamSection")
        section = QVBoxLayout(self.team_section)
        section.setContentsMargins(0, 0, 0, 0)
        section.setSpacing(14)
        self.agreement = Card("Agreement between reviewers",
                              "Decisions of the overlap sample, answered twice without seeing "
                              "the other answer")
        row = QHBoxLayout()
        row.setSpacing(12)
        self.kappa = Figure("Cohen's κ")
        self.kappa.value.setObjectName("agreementKappa")
        self.alpha = Figure("Krippendorff's α")
        self.alpha.value.setObjectName("agreementAlpha")
        self.observed = Figure("Answers that matched")
        self.observed.value.setObjectName("agreementObserved")
        self.awaiting = Figure("Awaiting adjudication")
        self.awaiting.value.setObjectName("awaitingAdjudication")
        for figure in (self.kappa, self.alpha, self.observed, self.awaiting):
            row.addWidget(figure, 1)
        self._agreement_figures = QWidget()
        self._agreement_figures.setLayout(row)
        row.setContentsMargins(0, 4, 0, 4)
        card_layout = self.agreement.layout()
        assert isinstance(card_layout, QVBoxLayout)
        card_layout.insertWidget(2, self._agreement_figures)  # above the tables, kept
        self.reviewers_card = Card("Reviewers",
                                   "Alphabetical: what each reviewer did, not a ranking")
        section.addWidget(self.agreement)
        section.addWidget(self.reviewers_card)
        self.team_section.setVisible(False)
        return self.team_section

    # --- public API -----------------------------------------------------------------------

    def bind(self, executor: Submitter,
             collect: Callable[[PolicyDecisionLog], StatisticsData] | None = None) -> None:
        """Compute on ``executor`` (the database thread) from now on; ``collect``: what
        to compute (default: the seed's statistics and the team's figures)."""
        self._executor = executor
        if collect is not None:
            self._collect = collect

    def refresh(self) -> None:
        """Recompute everything off the GUI thread and show it: the one call for any
        change (reviews, decisions, assignments). While the tab is hidden it only marks
        itself stale (recomputed when shown); calls during a computation are folded into
        one more. Does nothing before :meth:`bind`."""
        if self._executor is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        if self._computing:
            self._again = True
            return
        self._computing = True
        self._stale = False
        self._executor.submit(self._collect, self._computed, self._failed)

    @property
    def stale(self) -> bool:
        """True when a change arrived while hidden (the next show recomputes)."""
        return self._stale

    def _computed(self, data: StatisticsData) -> None:
        self._computing = False
        self.problem.setVisible(False)
        self.set_data(data)
        self.refreshed.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _failed(self, error: BaseException) -> None:
        self._computing = False
        message = f"Cannot compute statistics: {error}"
        self.problem.setText(message)
        self.problem.setVisible(True)
        self.refresh_failed.emit(message)
        if self._again:
            self._again = False
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """Recompute numbers that went stale while the tab was hidden."""
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def set_data(self, data: StatisticsData) -> None:
        """Show ``data`` (replaces everything shown before); its team figures when it
        carries them (``TeamStatisticsData``)."""
        self._data = data
        self._show_team(getattr(data, "team", None))
        self._show_statistics(data.statistics)
        self._show_replays(data.replays)
        self._show_distribution(data.statistics)
        self._show_review_types(data.corrections_by_type)
        self._show_accuracy(data.accuracy_by_run)
        self._show_confusion(data.confusion)
        self._show_flips(data.decision_flips)
        self._show_runs(data.accuracy_by_run)

    def changeEvent(self, event: QEvent) -> None:
        """Redraw the charts in the new colours when the theme changes."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._data is not None:
            self.set_data(self._data)

    @property
    def data(self) -> StatisticsData | None:
        """The data on show (None before the first :meth:`set_data`)."""
        return self._data

    # --- parts ------------------------------------------------------------------------------

    def _show_team(self, team: TeamStatistics | None) -> None:
        if team is None or not team.has_team:
            self.team_section.setVisible(False)
            return
        self.team_section.setVisible(True)
        overall = team.agreement.overall
        if overall.units:
            self.agreement.set_subtitle(
                f"The {team.overlap_percent:g}% overlap sample: {overall.units:,} decision"
                f"{'' if overall.units == 1 else 's'} answered twice without seeing the "
                "other answer")
            self.kappa.set(coefficient(overall.kappa, overall),
                           "two reviewers per decision; 1 = always agree, 0 = chance")
            self.alpha.set(coefficient(overall.alpha, overall),
                           "the same for any number of reviewers")
            self.observed.set(share(overall.observed), "of the pairs of answers")
            self.awaiting.set(f"{team.awaiting_adjudication:,}",
                              "disagreements to settle (policy-desktop team adjudicate)")
            by_type, by_month = by_type_table(team), by_month_table(team)
            self._agreement_figures.setVisible(True)
            self.agreement.set_widgets(
                mute(plain_label("By the model's decision")), by_type,
                mute(plain_label("Over time (the month each pair of answers was completed)")),
                by_month, mute(plain_label("Each pair of reviewers")), pairs_table(team))
        else:
            self.agreement.set_subtitle("")
            self._agreement_figures.setVisible(False)
            self.agreement.set_empty(
                f"No decision of the {team.overlap_percent:g}% overlap sample has two answers "
                "yet (policy-desktop team overlap sets the share)")
        if team.reviewers:
            self.reviewers_card.set_widgets(reviewers_table(team, local_time))
        else:
            self.reviewers_card.set_empty("Nobody has reviewed yet")

    def _show_statistics(self, stats: dict[str, Any]) -> None:
        total = int(stats.get("total", 0))
        reviewed = int(stats.get("reviewed", 0))
        self.total.set(f"{total:,}", "" if total else "Nothing logged yet")
        self.reviewed.set(f"{reviewed:,}", f"{reviewed / total:.0%} of all" if total else "")
        self.unreviewed.set(f"{int(stats.get('unreviewed', 0)):,}")
        evaluated = int(stats.get("evaluated", 0))
        self.accuracy.set(
            _percent(stats.get("accuracy")),
            f"{int(stats.get('correct', 0)):,} right of {evaluated:,} with an expected answer"
            if evaluated else "No decision with an expected outcome yet")
        corrections = int(stats.get("corrections", 0))
        accepted = int(stats.get("accepted", 0))
        # "Corrections 9 · 4 accepted as they were" read as 4 of the 9: say what each is.
        self.corrections.set(f"{corrections:,}",
                             f"of {reviewed:,} reviewed; the other {accepted:,} "
                             f"{'was' if accepted == 1 else 'were'} accepted as correct"
                             if reviewed else "")
        gate = int(stats.get("training_gate", TRAINING_GATE))
        # The export's gate counts every correction in the database, replay answers' too.
        gated = int(stats.get("gate_corrections", corrections))
        self.readiness_label.setText(f"{gated:,} of {gate:,} corrections")
        self.readiness_bar.setRange(0, gate)
        self.readiness_bar.setValue(min(gated, gate))
        self._style_readiness(ready=gated >= gate)
        if gated >= gate:
            detail = "Ready: there are enough corrections to export training data."
        else:
            needed = gate - gated
            detail = (f"{needed:,} more {'correction' if needed == 1 else 'corrections'} needed "
                      "before training data can be exported (a safeguard against overfitting).")
        if gated != corrections:
            detail += (f" The gate counts every correction in the database: {gated - corrections:,}"
                       " of these are corrections of replay answers.")
        self.readiness_detail.setText(detail)

    def _show_replays(self, replays: ReplayTally) -> None:
        note = replay_note(replays)
        self.replays.setText(note)
        self.replays.setVisible(bool(note))
        left_out = " (replay answers left out)" if replays.answers else ""
        self.distribution.set_subtitle(f"What the model answered{left_out} · click a bar to "
                                       "list those decisions")
        self.review_types.set_subtitle("What reviewers did with the decisions they reviewed"
                                       f"{left_out} · click a bar to list them")
        self.confusion.set_subtitle("Rows: the expected decision · columns: the model's answer · "
                                    f"the diagonal is right{left_out}")
        self.flips.set_subtitle(f"Rows: the model's answer · columns: the reviewer's decision"
                                f"{left_out}")
        self.runs.set_subtitle(f"Newest first · replay runs marked {REPLAY_MARK}"
                               if replays.runs else "Newest first")

    def _style_readiness(self, ready: bool) -> None:
        chunk = "#3b8a4a" if ready else "#3a6fb0"
        self.readiness_bar.setStyleSheet(
            "QProgressBar { border: none; border-radius: 5px; background: palette(midlight); }"
            f"QProgressBar::chunk {{ border-radius: 5px; background: {chunk}; }}")

    def _show_distribution(self, stats: dict[str, Any]) -> None:
        known = (*DECISIONS, UNPARSEABLE)
        counts = dict.fromkeys(known, 0)
        for value, count in stats.get("decision_distribution", {}).items():
            key = _bucket(value, known)
            counts[key] = counts.get(key, 0) + int(count)
        if not sum(counts.values()):
            self.distribution.set_empty("No decisions yet")
            return
        bars = [Bar(_short(key), count, decision_color(key if key != OTHER else None),
                    None if key == OTHER else key)
                for key, count in counts.items() if key != OTHER or count]
        chart = bar_chart(bars, value_title="Decisions", on_click=self.decision_clicked.emit)
        chart.setObjectName("distributionChart")
        self.distribution.set_widgets(chart)

    def _show_review_types(self, by_type: dict[str, int]) -> None:
        if not sum(by_type.values()):
            self.review_types.set_empty("No reviews yet")
            return
        bars = [Bar(label, int(by_type.get(key, 0)), QColor(color), key)
                for key, label, color in REVIEW_TYPE_BARS]
        chart = bar_chart(bars, value_title="Decisions",
                          on_click=self.review_type_clicked.emit)
        chart.setObjectName("reviewTypesChart")
        self.review_types.set_widgets(chart)

    def _show_accuracy(self, runs: list[RunAccuracy]) -> None:
        numbered = [(index, run) for index, run in enumerate(runs, start=1)
                    if run.accuracy is not None]
        if not runs:
            self.accuracy_runs.set_empty("No runs yet: run the scenario suite to see accuracy "
                                         "over time")
            return
        if not numbered:
            self.accuracy_runs.set_empty("No run has decisions with an expected outcome yet")
            return
        shown = numbered[-MAX_RUNS_IN_CHART:]
        subtitle = ("Share of decisions matching the expected decision, oldest run on the left")
        if len(shown) < len(numbered):
            subtitle += f" (the last {len(shown)} of {len(numbered)} runs)"
        if any(run.replay for _, run in shown):
            subtitle += (f"; replay runs {REPLAY_MARK} are orange squares off the line: a "
                         "candidate answering again what production decided")
        self.accuracy_runs.set_subtitle(subtitle)
        chart = line_chart([_run_label(index, run) for index, run in shown],
                           [run.accuracy for _, run in shown], value_title="Accuracy",
                           marked=[run.replay for _, run in shown],
                           names=("Production runs", "Replay runs"))
        chart.setObjectName("accuracyChart")
        chart.setMinimumHeight(300)
        self.accuracy_runs.set_widgets(chart)

    def _show_confusion(self, confusion: dict[tuple[str, str], int]) -> None:
        if not confusion:
            self.confusion.set_empty("No decisions with an expected outcome yet")
            return
        expected_keys = DECISIONS
        model_keys = (*DECISIONS, UNPARSEABLE)
        counts: dict[tuple[str, str], int] = {}
        for (expected, model), count in confusion.items():
            key = (_bucket(expected, expected_keys), _bucket(model, model_keys))
            counts[key] = counts.get(key, 0) + count
        rows = list(expected_keys) + ([OTHER] if any(k[0] == OTHER for k in counts) else [])
        columns = list(model_keys) + ([OTHER] if any(k[1] == OTHER for k in counts) else [])
        table = matrix_table(rows, columns, counts, {r: _label(r) for r in rows},
                             {c: _short(c) for c in columns})
        table.setObjectName("confusionMatrix")
        table.setToolTip("Click a cell to list those decisions")
        table.setCursor(Qt.CursorShape.PointingHandCursor)

        def clicked(row: int, column: int) -> None:
            expected, decided = rows[row], columns[column]
            if OTHER not in (expected, decided) and counts.get((expected, decided)):
                self.cell_clicked.emit(expected, decided)

        table.cellClicked.connect(clicked)
        self.confusion.set_widgets(table, self._confusion_summary(counts))

    @staticmethod
    def _confusion_summary(counts: dict[tuple[str, str], int]) -> QLabel:
        mistakes = {pair: n for pair, n in counts.items() if pair[0] != pair[1]}
        false_allows = sum(n for (expected, model), n in mistakes.items() if model == "allow")
        lines = []
        if mistakes:
            (expected, model), n = max(mistakes.items(), key=lambda item: item[1])
            lines.append(f"Most common mistake: expected {_short(expected)}, "
                         f"answered {_short(model)} ({n:,})")
        else:
            lines.append("No mistakes: every evaluated decision matched.")
        if false_allows:
            lines.append(f"⚠ {false_allows:,} unsafe allow{'s' if false_allows != 1 else ''}: "
                         "the model allowed where the policy expected a stricter answer")
        return plain_label("\n".join(lines), object_name="confusionSummary")

    def _show_flips(self, flips: dict[tuple[str, str], int]) -> None:
        if not flips:
            self.flips.set_empty("No decision corrections yet")
            return
        model_keys = (*DECISIONS, UNPARSEABLE)
        counts: dict[tuple[str, str], int] = {}
        for (model, reviewer), count in flips.items():
            key = (_bucket(model, model_keys), _bucket(reviewer, DECISIONS))
            counts[key] = counts.get(key, 0) + count
        rows = [key for key in (*model_keys, OTHER) if any(k[0] == key for k in counts)]
        columns = list(DECISIONS) + ([OTHER] if any(k[1] == OTHER for k in counts) else [])
        table = matrix_table(rows, columns, counts, {r: _label(r) for r in rows},
                             {c: _short(c) for c in columns}, diagonal_good=False)
        table.setObjectName("flipsMatrix")
        total = sum(counts.values())
        summary = plain_label(f"{total:,} decision{'s' if total != 1 else ''} changed by reviewers",
                              object_name="flipsSummary")
        self.flips.set_widgets(table, summary)

    def _show_runs(self, runs: list[RunAccuracy]) -> None:
        if not runs:
            self.runs.set_empty("No runs yet")
            return
        headers = ["#", "Started", "Model", "Prompt version", "Evaluated", "Correct", "Accuracy"]
        table = QTableWidget(len(runs), len(headers))
        table.setObjectName("runsTable")
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        numbered = list(enumerate(runs, start=1))
        for row, (index, run) in enumerate(reversed(numbered)):
            values = [run_number(index, run), local_time(run.started), run.model_name or "—",
                      run.prompt_version or "—", f"{run.evaluated:,}", f"{run.correct:,}",
                      _percent(run.accuracy)]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column in (0, 4, 5, 6):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if run.replay:
                    item.setForeground(QColor("#a8650f"))
                    item.setToolTip("A replay run: a candidate answering again logged "
                                    "decisions (not counted in the figures above)")
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        row_height = table.verticalHeader().defaultSectionSize()
        visible_rows = min(len(runs), 10)
        table.setFixedHeight(header.sizeHint().height() + row_height * visible_rows
                             + 2 * table.frameWidth() + 2)
        self.runs.set_widgets(table)

