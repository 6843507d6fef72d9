"""The filter bar above the table: views with their counts, search and facet menus.

It only describes a :class:`DecisionFilter`; the store applies it in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store.queries import FAILURES, VIEWS, DecisionFilter
from policy_desktop.ui.decision_style import decision_label
from policy_desktop.ui.decisions_model import plain_tooltip
from policy_desktop.vocabulary import LOGGED_DECISIONS

VIEW_LABELS: dict[str, str] = {
    "unreviewed": "Unreviewed", "incorrect": "Incorrect", "corrections": "Corrections",
    "reviewed": "Reviewed", "all": "All", FAILURES: "Run failures",
}  # fmt: skip
SORT_LABELS: dict[str, str] = {
    "newest": "Newest first", "oldest": "Oldest first",
    "least_confident": "Least confident first", "most_confident": "Most confident first",
}  # fmt: skip
VIEW_TIPS: dict[str, str] = {
    "unreviewed": "Decisions nobody has reviewed yet",
    "incorrect": "Decisions that did not match the scenario's expected decision",
    "corrections": "Decisions a reviewer corrected (decision, reasoning or both)",
    "reviewed": "Decisions already reviewed (accepted or corrected)",
    "all": "Every decision",
    FAILURES: "This run's failures, as the run counted them: a wrong decision, or too little "
              "of the expected reasoning",
}
SEARCH_DELAY_MS = 300
# facet key in DecisionFilter -> (key in DecisionQueries.facets(), "any" label)
FACETS: dict[str, tuple[str, str]] = {
    "model_name": ("model_name", "Any model"),
    "prompt_version": ("prompt_version", "Any prompt"),
    "run_id": ("run_id", "Any run"),
}


def view_text(view: str, count: int | None) -> str:
    """``Unreviewed (1,204)``; just the name while the count is unknown."""
    label = VIEW_LABELS[view]
    return label if count is None else f"{label} ({count:,})"


class FilterBar(QWidget):
    """View buttons with counts, a debounced text search and facet menus.

    Signals:
        filter_changed(DecisionFilter): the reviewer changed the filter.
    """

    filter_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._filter = DecisionFilter()
        self._counts: dict[str, int] = {}

        self.view_group = QButtonGroup(self)
        self.view_group.setExclusive(True)
        self.view_buttons: dict[str, QToolButton] = {}
        views = QHBoxLayout()
        views.setSpacing(2)
        for view in (*VIEWS, FAILURES):
            button = QToolButton()
            button.setObjectName(f"view_{view}")
            button.setProperty("viewButton", True)
            button.setCheckable(True)
            button.setToolTip(VIEW_TIPS[view])
            button.setText(view_text(view, None))
            button.setAutoRaise(True)
            self.view_group.addButton(button)
            self.view_buttons[view] = button
            views.addWidget(button)
            button.clicked.connect(lambda _=False, v=view: self.set_view(v))
        self.view_buttons[self._filter.view].setChecked(True)
        self.view_buttons[FAILURES].setVisible(False)  # only while a run's failures show

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search actor, target, reasoning…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(140)
        self.search.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.search_icon = QAction(self.search)
        self.search.addAction(self.search_icon, QLineEdit.ActionPosition.LeadingPosition)
        self._ids_label = "chosen decisions"  # names an exact-id filter on the clear button
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_search)

        self.decision_combo = self._combo("decisionFilter", "Only decisions of this kind")
        self.decision_combo.addItem("Any decision", None)
        for value in LOGGED_DECISIONS:
            self.decision_combo.addItem(decision_label(value), value)
        self.decision_combo.currentIndexChanged.connect(self._apply_facets)
        self.facet_combos: dict[str, QComboBox] = {}
        tips = {"model_name": "Only decisions of this model",
                "prompt_version": "Only decisions made with this prompt version",
                "run_id": "Only decisions of this scenario run"}
        for key, (_, any_label) in FACETS.items():
            combo = self._combo(f"{key}Filter", tips[key])
            combo.addItem(any_label, None)
            combo.currentIndexChanged.connect(self._apply_facets)
            self.facet_combos[key] = combo

        self.clear_button = QToolButton()
        self.clear_button.setObjectName("clearFilters")
        self.clear_button.setText("Clear filters")
        self.clear_button.setAutoRaise(True)
        self.clear_button.setToolTip("Clear the search and the menus (keeps the view)")
        self.clear_button.clicked.connect(self.clear_facets)
        self.clear_button.setVisible(False)

        top = QHBoxLayout()
        top.setSpacing(8)
        top.addLayout(views)
        top.addStretch(1)
        facets = QHBoxLayout()
        facets.setSpacing(6)
        facets.addWidget(self.search, 1)
        facets.addWidget(self.decision_combo)
        for combo in self.facet_combos.values():
            facets.addWidget(combo)
        facets.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addLayout(facets)

    def _combo(self, name: str, tip: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        combo.setToolTip(tip)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(7)
        return combo

    # --- state -----------------------------------------------------------------------

    @property
    def filter(self) -> DecisionFilter:
        """The filter the bar describes."""
        return self._filter

    @property
    def counts(self) -> dict[str, int]:
        """The counts shown on the view buttons."""
        return dict(self._counts)

    def set_search_icon(self, icon: QIcon) -> None:
        """Show ``icon`` at the start of the search field."""
        self.search_icon.setIcon(icon)

    def set_counts(self, counts: dict[str, int] | None) -> None:
        """Show each view's count (None: unknown)."""
        self._counts = dict(counts or {})
        for view, button in self.view_buttons.items():
            button.setText(view_text(view, self._counts.get(view)))

    def set_facets(self, facets: dict[str, list[str]]) -> None:
        """Fill the model, prompt and run menus, keeping the current choices."""
        for key, (facet_key, any_label) in FACETS.items():
            combo = self.facet_combos[key]
            current = getattr(self._filter, key)
            values = list(facets.get(facet_key, []))
            if current is not None and current not in values:
                values.insert(0, current)
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(any_label, None)
            for value in values:
                combo.addItem(value, value)
                combo.setItemData(combo.count() - 1, plain_tooltip(value),
                                 Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)
            combo.blockSignals(False)

    def set_blind(self, enabled: bool) -> None:
        """Blind review: filtering by the model's decision would tell it, so it is off."""
        if enabled and self.decision_combo.currentIndex() != 0:
            self.decision_combo.setCurrentIndex(0)
        self.decision_combo.setEnabled(not enabled)
        self.decision_combo.setToolTip("Off during blind review" if enabled
                                       else "Only decisions of this kind")

    def focus_search(self) -> None:
        """Put the focus in the search field with its text selected."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # --- changes ---------------------------------------------------------------------

    def set_view(self, view: str) -> None:
        """Show ``view`` (a :data:`VIEWS` name, or :data:`FAILURES`)."""
        self.view_buttons[view].setChecked(True)
        self.view_buttons[FAILURES].setVisible(view == FAILURES)
        self._change(view=view)

    def show_run(self, run_id: str, view: str = FAILURES,
                 pass_coverage: float | None = None) -> None:
        """Show one run's decisions in ``view`` (e.g. its failures), other filters kept.

        ``pass_coverage`` is the run's own threshold, so the failures are the run's.
        """
        combo = self.facet_combos["run_id"]
        if combo.findData(run_id) < 0:
            combo.addItem(run_id, run_id)
        combo.blockSignals(True)
        combo.setCurrentIndex(combo.findData(run_id))
        combo.blockSignals(False)
        self.view_buttons[view].setChecked(True)
        self.view_buttons[FAILURES].setVisible(view == FAILURES)
        changes: dict[str, object] = {"view": view, "run_id": run_id}
        if pass_coverage is not None:
            changes["pass_coverage"] = pass_coverage
        self._change(**changes)

    def show_cell(self, expected: str, decided: str) -> None:
        """The decisions of one confusion-matrix cell: expected ``expected``, answered
        ``decided``, in every review state (the other filters cleared: the matrix counts
        every production decision)."""
        self._show_all(decided, expected=expected, exclude_replays=True)

    def show_bar(self, *, decision: str | None = None,
                 review_action: str | None = None) -> None:
        """The decisions one bar of a Statistics chart counts (a decision, or a review
        action), in every review state, replay answers left out as the chart leaves them
        (the other filters cleared: the chart counts every production decision)."""
        self._show_all(decision, review_action=review_action, exclude_replays=True)

    def show_decisions(self, decision_ids: Sequence[str], label: str) -> None:
        """Exactly ``decision_ids`` (e.g. a replay flip-matrix cell) in every review state;
        ``label`` names them on the clear button."""
        self._ids_label = label
        self._show_all(None, decision_ids=tuple(decision_ids))

    def set_sort(self, sort: str) -> None:
        """Order rows by ``sort`` (a store sort name)."""
        self._change(sort=sort)

    def clear_facets(self) -> None:
        """Clear the search text and every menu, keeping the view and the order."""
        self._change(**self._cleared_inputs())

    def _cleared_inputs(self) -> dict[str, object]:
        """Empty the search and every menu without signals; the filter fields they clear."""
        self._search_timer.stop()
        for combo in (self.decision_combo, *self.facet_combos.values()):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        return {"text": "", "decision": None, "model_name": None, "prompt_version": None,
                "run_id": None, "expected": None, "review_action": None,
                "decision_ids": None, "exclude_replays": False}

    def _show_decision(self, decision: str | None) -> str | None:
        """Show ``decision`` in its menu without a signal; it, or None when not listed."""
        index = self.decision_combo.findData(decision) if decision else -1
        self.decision_combo.blockSignals(True)
        self.decision_combo.setCurrentIndex(max(0, index))
        self.decision_combo.blockSignals(False)
        return decision if index >= 0 else None

    def _show_all(self, decision: str | None, **changes: object) -> None:
        """Every review state with only ``decision`` and ``changes`` as filters (a chart,
        matrix or replay jump lists exactly what it counts); the inputs are cleared and
        the decision shown in its menu, without signals."""
        self.view_buttons["all"].setChecked(True)
        self.view_buttons[FAILURES].setVisible(False)
        cleared = self._cleared_inputs()
        self._change(**{**cleared, "view": "all", "decision": self._show_decision(decision),
                        **changes})

    def _apply_search(self) -> None:
        self._search_timer.stop()
        self._change(text=self.search.text().strip())

    def _apply_facets(self) -> None:
        values = {key: combo.currentData() for key, combo in self.facet_combos.items()}
        self._change(decision=self.decision_combo.currentData(), **values)

    def _change(self, **changes: object) -> None:
        run_id = changes.get("run_id")
        if run_id and run_id != self._filter.run_id:
            changes["exclude_replays"] = False  # a run asked for is shown, replay or not
        updated = replace(self._filter, **changes)  # type: ignore[arg-type]
        has_facets = any((updated.text, updated.decision, updated.model_name,
                          updated.prompt_version, updated.run_id, updated.expected,
                          updated.review_action, updated.decision_ids is not None,
                          updated.exclude_replays))
        self.clear_button.setVisible(has_facets)
        named = ""
        if updated.decision_ids is not None:
            named = f" ({self._ids_label})"
        elif updated.expected:
            named = f" (expected {decision_label(updated.expected)})"
        self.clear_button.setText(f"Clear filters{named}")
        if updated != self._filter:
            self._filter = updated
            self.filter_changed.emit(updated)
