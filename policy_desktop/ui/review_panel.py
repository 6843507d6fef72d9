"""The review pane: one decision's details above the correction form.

The panel never writes to the database: it emits a :class:`ReviewSubmission`
and the window records it with ``PolicyDecisionLog.mark_reviewed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store import PolicyDecision, ReviewEvent
from policy_desktop.ui.decision_style import REVIEW_ACTION_LABELS, decision_label
from policy_desktop.ui.detail_view import DetailView, mute, plain_label
from policy_desktop.ui.review_form import (
    FormOutcome,
    ReviewForm,
    describe_labels,
    describe_outcome,
    dropped_labels,
    form_outcome,
)
from policy_desktop.ui.shortcuts import hint, shortcut_for
from policy_desktop.ui.status_bar import READ_ONLY_NOTE
from policy_desktop.vocabulary import DECISIONS, UNPARSEABLE

DETAIL_MIN_HEIGHT = 220


@dataclass(frozen=True)
class ReviewSubmission:
    """A review to record with ``mark_reviewed(decision_id, reviewer=…, **review_arguments())``;
    no decision and no reasoning means "accepted as correct". The labels are None when not
    given (see ``PolicyDecision.final_classification``); the comment None when empty."""

    decision_id: str
    review_decision: str | None
    review_reasoning: str | None
    blind_decision: str | None
    review_classification: str | None = None
    review_risk_level: str | None = None
    comment: str | None = None

    def review_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``mark_reviewed`` (and ``ReviewQueue.submit``) after the id
        and reviewer: whatever the form recorded, so the window never lists the fields."""
        return {"review_decision": self.review_decision,
                "review_reasoning": self.review_reasoning,
                "blind_decision": self.blind_decision,
                "review_classification": self.review_classification,
                "review_risk_level": self.review_risk_level,
                "comment": self.comment}


class ReviewPanel(QWidget):
    """The detail pane and correction form for one decision.

    A button click that arrives within the double-click interval after a new
    decision appeared is dropped: it is the second half of a double click meant
    for the decision before (one action, one review).

    Signals:
        submitted(ReviewSubmission): the reviewer accepted or saved a review.
        skipped(): the reviewer moves on without writing anything.
        revealed(str): blind review: the reviewer chose a decision for this id,
            so its answer may now be shown everywhere.
    """

    submitted = Signal(object)
    skipped = Signal()
    revealed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        self._decision: PolicyDecision | None = None
        self._blind = False
        self._read_only = False
        self._revealed = True
        self._blind_choice: str | None = None
        self._shown_at = 0.0  # monotonic time the decision on show appeared
        self._reasoning_warned_at: float | None = None  # see _argues_the_old_decision
        self._known_classifications: set[str] = set()

        self.detail = DetailView()
        self.detail_scroll = QScrollArea()
        self.detail_scroll.setObjectName("detailScroll")
        self.detail_scroll.setWidget(self.detail)
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.detail_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The window's minimum size keeps this much of the situation in view above the form.
        self.detail_scroll.setMinimumHeight(DETAIL_MIN_HEIGHT)
        # The old name, still read by tests/ui/test_review_desk.py; it hides QWidget.scroll()
        # (nothing scrolls the panel itself): drop it once that test says detail_scroll.
        self.scroll = self.detail_scroll  # type: ignore[assignment, method-assign]
        self.form = ReviewForm()
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        content_layout.addWidget(self.detail_scroll, 1)
        content_layout.addWidget(self.form)

        self.placeholder = QWidget()
        self.placeholder.setObjectName("panelPlaceholder")
        self.placeholder_title = plain_label("No decision selected", selectable=False,
                                             object_name="placeholderTitle")
        title_font = self.placeholder_title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        self.placeholder_title.setFont(title_font)
        self.placeholder_hint = mute(plain_label(
            f"Pick one from the list, or press {hint('next')} / {hint('previous')} to move "
            f"through it. {hint('show_shortcuts')} lists every key.", selectable=False,
            object_name="placeholderHint"))
        placeholder_layout = QVBoxLayout(self.placeholder)
        placeholder_layout.setContentsMargins(32, 32, 32, 32)
        placeholder_layout.addStretch(1)
        for label in (self.placeholder_title, self.placeholder_hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            placeholder_layout.addWidget(label)
        placeholder_layout.addStretch(1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        self.form.decision_clicked.connect(self.choose_decision)
        self.form.reasoning_edited.connect(self._forget_warning)
        self.form.accept_clicked.connect(lambda: self._clicked(self.accept))
        self.form.commit_clicked.connect(lambda: self._clicked(self.commit))
        self.form.skip_clicked.connect(lambda: self._clicked(self.skip))
        self.form.commit_requested.connect(self.commit)
        self.form.reset_button.clicked.connect(self._reset_reasoning)
        self.form.labels_edited.connect(self._refresh)
        self.form.keep_labels_clicked.connect(self.keep_model_labels)
        self.label_actions = [self._key_action("focus_classification", self.focus_classification),
                              self._key_action("focus_risk", self.focus_risk),
                              self._key_action("focus_comment", self.focus_comment)]
        self._refresh()

    def _key_action(self, action_id: str, handler: Callable[[], None]) -> QAction:
        """The panel's own keys (the window guards single keys in text fields for them)."""
        action = QAction(shortcut_for(action_id).description, self)
        action.setObjectName(f"action_{action_id}")
        action.setShortcuts([QKeySequence(key) for key in shortcut_for(action_id).keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(handler)
        self.addAction(action)
        return action
    # --- public API ---------------------------------------------------------------------

    @property
    def decision(self) -> PolicyDecision | None:
        """The decision on show (None when nothing is selected)."""
        return self._decision

    def show_decision(self, decision: PolicyDecision | None,
                      history: list[ReviewEvent]) -> None:
        """Show ``decision`` with its review ``history``; None shows a calm placeholder.

        A decision reviewed before starts from its current review, so saving it
        unchanged records the same review again instead of reverting it. Showing
        the decision already on show, with the same review state (a refresh),
        keeps what the reviewer has typed or chosen so far.
        """
        if self._is_refresh_of_shown(decision):
            assert decision is not None
            self._decision = decision
            self.detail.show_decision(decision, history)
            self.detail.set_model_answer_visible(self._revealed)
            self._refresh()
            return
        self._decision = decision
        self._blind_choice = None
        self._reasoning_warned_at = None
        self._shown_at = time.monotonic()
        self.form.comment.clear()
        if decision is None:
            self.stack.setCurrentIndex(0)
            self._refresh()
            return
        self.stack.setCurrentIndex(1)
        self.detail.show_decision(decision, history)
        self._revealed = not self._blind
        self._load_form()
        self.detail.set_model_answer_visible(self._revealed)
        self.detail_scroll.verticalScrollBar().setValue(0)
        self._refresh()

    def set_read_only(self, read_only: bool) -> None:
        """A database read-only here: the form shows the decision but saves nothing."""
        self._read_only = read_only
        self._refresh()

    def set_blind_review(self, enabled: bool) -> None:
        """Hide the model's answer until the reviewer has chosen a decision.

        Turning it on starts the shown decision afresh (hidden, form reset);
        turning it off reveals the answer and keeps the form as it is.
        """
        if enabled == self._blind:
            return
        self._blind = enabled
        if self._decision is None:
            return
        if enabled:
            self._blind_choice = None
            self._revealed = False
            self._load_form()
            self.detail.set_model_answer_visible(False)
            self._refresh()
        else:
            self._reveal()

    def is_blind_review(self) -> bool:
        """Whether blind review is on."""
        return self._blind

    def set_known_classifications(self, names: Iterable[str]) -> None:
        """Classifications the log holds, offered in the form (read off the GUI thread,
        e.g. with ``policy_desktop.store.labels.known_classifications``)."""
        self._known_classifications.update(name for name in names if name)
        if self._decision is not None and self._revealed:
            self.form.set_label_options(self._decision.classification,
                                        self._known_classifications)

    def accept(self) -> None:
        """Submit "accepted as correct" (no decision, no reasoning; labels as the form
        holds them: none unless the reviewer set some)."""
        if not self._can_accept():
            return
        assert self._decision is not None and self._decision.decision_id is not None
        self.submitted.emit(ReviewSubmission(
            self._decision.decision_id, None, None, self._blind_choice,
            self.form.classification(), self.form.risk_level(), self.form.comment_text()))

    def keep_model_labels(self) -> None:
        """Confirm the model's classification and risk level (for a corrected decision)."""
        decision = self._decision
        if decision is None or not self._revealed:
            return
        if decision.classification:
            self.form.set_classification(decision.classification)
        if decision.risk_level:
            self.form.set_risk_level(decision.risk_level)
        self._refresh()

    def focus_classification(self) -> None:
        """Put the focus in the classification box (C)."""
        if self._decision is not None and self._revealed:
            self.form.classification_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
            line = self.form.classification_box.lineEdit()
            if line is not None:
                line.selectAll()

    def focus_comment(self) -> None:
        """Put the focus in the comment field (M)."""
        if self._decision is not None:
            self.form.comment.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_risk(self) -> None:
        """Put the focus in the risk level box (L; then L/M/H/C/N choose)."""
        if self._decision is not None and self._revealed:
            self.form.risk_box.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def choose_decision(self, decision: str) -> None:
        """Select one of the four decisions; in blind mode the first choice reveals the answer."""
        if self._decision is None or decision not in DECISIONS:
            return
        self.form.set_chosen_decision(decision)
        self._reasoning_warned_at = None
        if not self._revealed:
            self._blind_choice = decision
            self._reveal()
            if self._decision.decision_id is not None:
                self.revealed.emit(self._decision.decision_id)
        self._refresh()

    def focus_reasoning(self) -> None:
        """Put the focus in the reasoning editor (it starts from the model's reasoning)."""
        if self._decision is None or not self._revealed:
            return
        self.form.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.form.editor.moveCursor(self.form.editor.textCursor().MoveOperation.End)

    def commit(self) -> None:
        """Submit what the form holds: only what differs from the model's answer."""
        if not self._can_commit():
            return
        decision = self._decision
        assert decision is not None and decision.decision_id is not None
        outcome = form_outcome(decision.decision, decision.reasoning,
                               self.form.chosen_decision(), self.form.reasoning_text())
        if self._argues_the_old_decision(outcome):
            warned = self._reasoning_warned_at
            interval = QApplication.doubleClickInterval() / 1000
            if warned is None:
                self._reasoning_warned_at = time.monotonic()
                self._refresh()
                return
            if time.monotonic() - warned < interval:
                return  # the second half of a double click is no "keep it anyway"
        self.submitted.emit(ReviewSubmission(
            decision.decision_id, outcome.review_decision, outcome.review_reasoning,
            self._blind_choice, self.form.classification(), self.form.risk_level(),
            self.form.comment_text()))

    def skip(self) -> None:
        """Move on without writing anything."""
        if self._decision is not None:
            self.skipped.emit()

    # --- internals ----------------------------------------------------------------------

    def _forget_warning(self) -> None:
        self._reasoning_warned_at = None
        self._refresh()

    def _clicked(self, action: Callable[[], None]) -> None:
        interval = QApplication.doubleClickInterval() / 1000
        if time.monotonic() - self._shown_at < interval:
            return  # the second click of a double click on the previous decision
        action()

    def _argues_the_old_decision(self, outcome: FormOutcome) -> bool:
        """A decision-only correction keeps the model's reasoning, which argued for the
        model's decision: the training data would pair the new decision with it."""
        decision = self._decision
        return (decision is not None and outcome.action == "correct_decision"
                and bool((decision.reasoning or "").strip()))

    def _is_refresh_of_shown(self, decision: PolicyDecision | None) -> bool:
        shown = self._decision
        if shown is None or decision is None or shown.decision_id != decision.decision_id:
            return False
        return _review_state(shown) == _review_state(decision)

    def _load_form(self) -> None:
        decision = self._decision
        assert decision is not None
        if not self._revealed:
            self.form.set_chosen_decision(None)
            self.form.set_reasoning_text("")
            self.form.set_editor_enabled(
                False, "Choose a decision first: the editor then starts from the model's "
                       "reasoning.")
            # Nothing of the model's labels before the choice (not even as an option).
            self.form.set_label_options(None, ())
            self.form.set_classification(None)
            self.form.set_risk_level(None)
            self.form.set_labels_enabled(False)
            return
        if decision.classification:
            self._known_classifications.add(decision.classification)
        self.form.set_label_options(decision.classification, self._known_classifications)
        self.form.set_classification(decision.review_classification if decision.reviewed
                                     else None)
        self.form.set_risk_level(decision.review_risk_level if decision.reviewed else None)
        self.form.set_labels_enabled(True)
        self.form.set_chosen_decision(decision.final_decision
                                      if decision.reviewed else decision.decision)
        self.form.set_reasoning_text(
            (decision.final_reasoning if decision.reviewed else decision.reasoning) or "")
        self.form.set_editor_enabled(True, "The model gave no reasoning; write one here.")

    def _reveal(self) -> None:
        self._revealed = True
        self.detail.set_model_answer_visible(True)
        chosen = self.form.chosen_decision()
        self._load_form()
        if chosen is not None:
            self.form.set_chosen_decision(chosen)
        self._refresh()

    def _reset_reasoning(self) -> None:
        if self._decision is not None:
            self.form.set_reasoning_text(self._decision.reasoning or "")

    def _can_accept(self) -> bool:
        decision = self._decision
        return (decision is not None and self._revealed and not self._read_only
                and decision.decision != UNPARSEABLE)

    def _can_commit(self) -> bool:
        decision = self._decision
        if decision is None or not self._revealed or self._read_only:
            return False
        return decision.decision != UNPARSEABLE or self.form.chosen_decision() is not None

    def _refresh(self) -> None:
        """Enable the buttons and describe what saving would record."""
        decision = self._decision
        self.form.setEnabled(decision is not None)
        self.form.accept_button.setEnabled(self._can_accept())
        self.form.commit_button.setEnabled(self._can_commit())
        self._refresh_labels_note()
        if decision is None:
            self.form.set_status("")
            return
        note = self._note(decision)
        if self._read_only:
            self.form.set_status(READ_ONLY_NOTE, note)
            return
        if not self._revealed:
            self.form.set_status(
                "Blind review: choose a decision (1–4) to reveal the model's answer", note)
            return
        if decision.decision == UNPARSEABLE and self.form.chosen_decision() is None:
            self.form.set_status("The model's answer could not be parsed: choose the right "
                                 "decision (1–4)", note)
            return
        outcome = form_outcome(decision.decision, decision.reasoning,
                               self.form.chosen_decision(), self.form.reasoning_text())
        if self._reasoning_warned_at is not None and self._argues_the_old_decision(outcome):
            self.form.set_status(
                f"The reasoning still argues for {decision_label(decision.decision)}: press "
                f"{hint('focus_reasoning')} to rewrite it, or {hint('commit')} again to keep "
                f"it as it is", note)
            return
        status = describe_outcome(outcome, decision.decision)
        labels = describe_labels(decision.classification, decision.risk_level,
                                 self.form.classification(), self.form.risk_level())
        self.form.set_status(f"{status}; {labels}" if labels else status, note)

    def _refresh_labels_note(self) -> None:
        """Say whether the model's labels will stand, and offer to keep them."""
        decision = self._decision
        form = self.form
        keep = False
        if decision is None or not self._revealed:
            text = ("Labels are optional; the model's appear after your choice"
                    if decision is not None else "")
        else:
            chosen = form.chosen_decision()
            dropped = dropped_labels(decision.classification, decision.risk_level,
                                     form.classification(), form.risk_level())
            if chosen is None or chosen == decision.decision:
                text = "The model's labels stand unless you change them (optional)"
            elif dropped:
                text = (f"⚠ Not used for the new decision unless confirmed: the model's "
                        f"{' and '.join(dropped)}")
                keep = True
            else:
                text = "Labels for the new decision: as set here"
        form.labels_note.setText(text)
        form.keep_labels_button.setVisible(keep)

    def _note(self, decision: PolicyDecision) -> str:
        if self._blind_choice is not None:
            verdict = "agrees" if self._blind_choice == decision.decision else "differs"
            return (f"Your blind choice: {decision_label(self._blind_choice)} — "
                    f"the model said {decision_label(decision.decision)} ({verdict})")
        if self._blind and not self._revealed:
            return "Blind review is on"
        if decision.reviewed:
            action = REVIEW_ACTION_LABELS.get(decision.review_action or "", "reviewed")
            return f"Already reviewed ({action}); saving adds a new review"
        return ""


def _review_state(decision: PolicyDecision) -> tuple[object, ...]:
    """What changes when a decision is reviewed or a review is undone."""
    return (decision.reviewed, decision.review_action, decision.review_timestamp,
            decision.review_decision, decision.review_reasoning,
            decision.review_classification, decision.review_risk_level)
