"""The correction form: pick a decision, set the labels, edit the reasoning, comment,
accept, save or skip.

The form only holds the reviewer's input and shows what saving will record; the
:class:`~policy_desktop.ui.review_panel.ReviewPanel` decides what is submitted.
The classification and risk level are optional: "not given" leaves the model's labels
standing while its decision stands, and out of training data once the decision is
corrected (choosing the model's value re-confirms it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFontMetrics, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store.decision import action_for_changes, review_label
from policy_desktop.ui.decision_style import (
    DECISION_GLYPHS,
    decision_color,
    decision_label,
    decision_short_label,
)
from policy_desktop.ui.detail_view import mute, plain_label
from policy_desktop.ui.shortcuts import hint
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS

CHOOSE_ACTIONS: dict[str, str] = {
    "allow": "choose_allow",
    "deny": "choose_deny",
    "require_attestation": "choose_attestation",
    "require_mfa": "choose_mfa",
}


@dataclass(frozen=True)
class FormOutcome:
    """What saving the form would record, relative to the model's answer."""

    action: str
    review_decision: str | None
    review_reasoning: str | None


def form_outcome(model_decision: str, model_reasoning: str | None, chosen: str | None,
                 edited_reasoning: str) -> FormOutcome:
    """Derive the review from the form: only what differs from the model is kept.

    The reasoning is compared and kept whitespace-trimmed; an empty reasoning
    counts as unchanged (a correction cannot erase the reasoning).
    """
    decision_changed = chosen is not None and chosen != model_decision
    reasoning = edited_reasoning.strip()
    reasoning_changed = bool(reasoning) and reasoning != (model_reasoning or "").strip()
    return FormOutcome(
        action=action_for_changes(decision_changed, reasoning_changed),
        review_decision=chosen if decision_changed else None,
        review_reasoning=reasoning if reasoning_changed else None,
    )


def describe_outcome(outcome: FormOutcome, model_decision: str) -> str:
    """``Will record: correct decision (Allow → Deny)`` and the like."""
    flip = f"{decision_label(model_decision)} → {decision_label(outcome.review_decision)}"
    return {
        "accept": "Will record: accept — the model's answer is correct",
        "correct_decision": f"Will record: correct decision ({flip})",
        "correct_reasoning": "Will record: correct reasoning (decision unchanged)",
        "correct_both": f"Will record: correct both ({flip}, new reasoning)",
    }[outcome.action]


NOT_GIVEN = "not given"
RISK_KEYS: dict[int, str | None] = {
    Qt.Key.Key_L: "low", Qt.Key.Key_M: "medium", Qt.Key.Key_H: "high",
    Qt.Key.Key_C: "critical", Qt.Key.Key_N: None,
}
"""While the risk level box has the focus: one letter picks a level (N = not given)."""


def describe_labels(model_classification: str | None, model_risk: str | None,
                    classification: str | None, risk_level: str | None) -> str:
    """The label part of the "Will record" line, e.g. ``risk level high → low``."""
    parts = []
    if classification is not None:
        parts.append("classification confirmed" if classification == model_classification
                     else f"classification → {classification}")
    if risk_level is not None:
        parts.append("risk level confirmed" if risk_level == model_risk
                     else f"risk level {model_risk or 'none'} → {risk_level}")
    return ", ".join(parts)


def dropped_labels(model_classification: str | None, model_risk: str | None,
                   classification: str | None, risk_level: str | None) -> list[str]:
    """The model's labels a decision correction would leave out (not given, not confirmed)."""
    dropped = []
    if model_classification and classification is None:
        dropped.append(f"“{model_classification}”")
    if model_risk and risk_level is None:
        dropped.append(f"risk “{model_risk}”")
    return dropped


def decision_button_style(decision: str) -> str:
    """A checkable decision button: neutral until checked, then tinted and bold."""
    color = decision_color(decision)
    r, g, b = color.red(), color.green(), color.blue()
    return (
        "QPushButton { padding: 6px 10px; text-align: left; }"
        f"QPushButton:checked {{ background: rgba({r}, {g}, {b}, 55);"
        f" border: 2px solid rgb({r}, {g}, {b}); border-radius: 4px; font-weight: 700; }}"
    )


class _EditorKeys(QObject):
    """Ctrl+Enter saves and Escape leaves the editor, even while it has the focus."""

    def __init__(self, form: ReviewForm) -> None:
        super().__init__(form)
        self._form = form

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
            if ctrl and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._form.commit_requested.emit()
                return True
            if key == Qt.Key.Key_Escape:
                self._form.editor.clearFocus()
                return True
        return super().eventFilter(watched, event)


class _RiskKeys(QObject):
    """In the risk level box, L/M/H/C/N choose a level (before the window's shortcuts)."""

    def __init__(self, form: ReviewForm) -> None:
        super().__init__(form)
        self._form = form

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(
                event, QKeyEvent) and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            key = event.key()
            if key in RISK_KEYS:
                if kind == QEvent.Type.ShortcutOverride:
                    event.accept()  # the letter is the box's, not the window's shortcut
                else:
                    self._form.set_risk_level(RISK_KEYS[key])
                return True
            if kind == QEvent.Type.KeyPress and key in (Qt.Key.Key_Escape, Qt.Key.Key_Return,
                                                         Qt.Key.Key_Enter):
                self._form.risk_box.clearFocus()
                return True
        return super().eventFilter(watched, event)


class _FieldKeys(QObject):
    """Enter or Escape leave a one-line field (classification, comment); Ctrl+Enter saves."""

    def __init__(self, form: ReviewForm, field: QWidget) -> None:
        super().__init__(form)
        self._form = form
        self._field = field

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                if ctrl:
                    self._form.commit_requested.emit()
                else:
                    self._field.clearFocus()
                return True
            if key == Qt.Key.Key_Escape:
                self._field.clearFocus()
                return True
        return super().eventFilter(watched, event)


class ReviewForm(QFrame):
    """Decision buttons (keys 1–4), the labels (C, L), the reasoning editor, a comment
    and the action buttons.

    Signals:
        decision_clicked(str): the reviewer picked a decision with the mouse.
        reasoning_edited(): the reasoning text changed.
        labels_edited(): the classification or the risk level changed.
        keep_labels_clicked(): "Keep the model's labels" was clicked.
        accept_clicked(), commit_clicked(), skip_clicked(): the buttons were clicked.
        commit_requested(): Ctrl+Enter inside the editor or the classification box.
    """

    decision_clicked = Signal(str)
    reasoning_edited = Signal()
    labels_edited = Signal()
    keep_labels_clicked = Signal()
    accept_clicked = Signal()
    commit_clicked = Signal()
    skip_clicked = Signal()
    commit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewForm")
        self.setStyleSheet("QFrame#reviewForm { border-top: 1px solid palette(mid); }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 12, 18, 14)
        layout.setSpacing(8)

        title = plain_label("Your review", wrap=False, selectable=False)
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        title.setFont(font)
        self.note = mute(plain_label(selectable=False, object_name="formNote"))
        title_row = QHBoxLayout()
        title_row.addWidget(title)
        title_row.addWidget(self.note, 1)
        layout.addLayout(title_row)

        self.decision_group = QButtonGroup(self)
        self.decision_buttons: dict[str, QPushButton] = {}
        buttons_row = QHBoxLayout()
        buttons_row.setSpacing(6)
        for index, decision in enumerate(DECISIONS):
            key = hint(CHOOSE_ACTIONS[decision])
            button = QPushButton(
                f"{key}  {DECISION_GLYPHS[decision]} {decision_short_label(decision)}")
            button.setObjectName(f"choose_{decision}")
            button.setCheckable(True)
            button.setToolTip(f"Choose {decision_label(decision).lower()} (key {key})")
            button.setStyleSheet(decision_button_style(decision))
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            # Never narrower than its label in bold (checked): "Attestation" stays whole.
            bold = button.font()
            bold.setBold(True)
            button.setMinimumWidth(QFontMetrics(bold).horizontalAdvance(button.text()) + 30)
            self.decision_group.addButton(button, index)
            self.decision_buttons[decision] = button
            buttons_row.addWidget(button)
        self.decision_group.idClicked.connect(
            lambda index: self.decision_clicked.emit(DECISIONS[index]))
        layout.addLayout(buttons_row)
        self._build_labels(layout)

        reasoning_row = QHBoxLayout()
        self.reasoning_caption = plain_label(f"Reasoning  ({hint('focus_reasoning')} to edit)",
                                             wrap=False, selectable=False)
        self.reset_button = QPushButton("Reset to the model's")
        self.reset_button.setObjectName("resetReasoning")
        self.reset_button.setFlat(True)
        self.reset_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reset_button.setToolTip("Put the model's reasoning back into the editor")
        reasoning_row.addWidget(self.reasoning_caption)
        reasoning_row.addStretch(1)
        reasoning_row.addWidget(self.reset_button)
        layout.addLayout(reasoning_row)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("reasoningEditor")
        self.editor.setTabChangesFocus(True)
        self.editor.setFixedHeight(self.editor.fontMetrics().lineSpacing() * 5 + 16)
        self.editor.textChanged.connect(self.reasoning_edited)
        self.editor.installEventFilter(_EditorKeys(self))
        layout.addWidget(self.editor)

        self.comment = QLineEdit()
        self.comment.setObjectName("reviewComment")
        self.comment.setPlaceholderText(
            f"Comment ({hint('focus_comment')}, optional): a note kept with this review")
        self.comment.setToolTip("Plain text, shown in the review history")
        self.comment.setClearButtonEnabled(True)
        self.comment.installEventFilter(_FieldKeys(self, self.comment))
        layout.addWidget(self.comment)

        self.status = plain_label(selectable=False, object_name="outcome")
        status_font = self.status.font()
        status_font.setBold(True)
        self.status.setFont(status_font)
        layout.addWidget(self.status)

        self.accept_button = QPushButton(f"Accept as correct   {hint('accept')}")
        self.accept_button.setObjectName("acceptButton")
        self.accept_button.setToolTip(
            f"The model's decision and reasoning are right ({hint('accept')})")
        self.skip_button = QPushButton(f"Skip   {hint('skip')}")
        self.skip_button.setObjectName("skipButton")
        self.skip_button.setToolTip(f"Move on without saving anything ({hint('skip')})")
        self.commit_button = QPushButton(f"Save review   {hint('commit')}")
        self.commit_button.setObjectName("primaryButton")  # the theme's accent button
        self.commit_button.setToolTip(
            f"Record the review the form shows ({hint('commit')})")
        for button in (self.accept_button, self.skip_button, self.commit_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setMinimumHeight(30)
        self.accept_button.clicked.connect(self.accept_clicked)
        self.skip_button.clicked.connect(self.skip_clicked)
        self.commit_button.clicked.connect(self.commit_clicked)
        actions_row = QHBoxLayout()
        actions_row.setSpacing(8)
        actions_row.addWidget(self.accept_button)
        actions_row.addWidget(self.skip_button)
        actions_row.addStretch(1)
        actions_row.addWidget(self.commit_button)
        layout.addLayout(actions_row)

    def _build_labels(self, layout: QVBoxLayout) -> None:
        self.classification_caption = plain_label(
            f"Classification  ({hint('focus_classification')})", wrap=False, selectable=False)
        self.classification_box = QComboBox()
        self.classification_box.setObjectName("reviewClassification")
        self.classification_box.setEditable(True)
        self.classification_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.classification_box.setMaxVisibleItems(15)
        self.classification_box.setSizePolicy(QSizePolicy.Policy.Expanding,
                                              QSizePolicy.Policy.Fixed)
        self.classification_box.setMinimumContentsLength(12)
        self.classification_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        line = self.classification_box.lineEdit()
        assert line is not None
        line.setPlaceholderText(NOT_GIVEN)
        self.classification_box.installEventFilter(_FieldKeys(self, self.classification_box))
        self.classification_box.editTextChanged.connect(lambda _text: self.labels_edited.emit())
        self.risk_caption = plain_label(f"Risk level  ({hint('focus_risk')})", wrap=False,
                                        selectable=False)
        self.risk_box = QComboBox()
        self.risk_box.setObjectName("reviewRiskLevel")
        self.risk_box.addItem(NOT_GIVEN, None)
        for level in RISK_LEVELS:
            self.risk_box.addItem(level, level)
        self.risk_box.setToolTip("Press L, M, H or C here for low, medium, high or critical; "
                                 "N for not given")
        self.risk_box.installEventFilter(_RiskKeys(self))
        self.risk_box.currentIndexChanged.connect(lambda _index: self.labels_edited.emit())
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.classification_caption)
        row.addWidget(self.classification_box, 3)
        row.addSpacing(10)
        row.addWidget(self.risk_caption)
        row.addWidget(self.risk_box, 1)
        layout.addLayout(row)

        self.labels_note = mute(plain_label(selectable=False, object_name="labelsNote"))
        # Two lines always: the form does not jump when the note grows.
        self.labels_note.setMinimumHeight(self.labels_note.fontMetrics().lineSpacing() * 2)
        self.labels_note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.keep_labels_button = QPushButton("Keep the model's labels")
        self.keep_labels_button.setObjectName("keepModelLabels")
        self.keep_labels_button.setFlat(True)
        self.keep_labels_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.keep_labels_button.setToolTip(
            "Confirm the model's classification and risk level for the corrected decision")
        self.keep_labels_button.clicked.connect(self.keep_labels_clicked)
        note_row = QHBoxLayout()
        note_row.addWidget(self.labels_note, 1)
        note_row.addWidget(self.keep_labels_button)
        layout.addLayout(note_row)

    # --- labels -------------------------------------------------------------------------------

    def set_label_options(self, model_classification: str | None,
                          known: Iterable[str]) -> None:
        """Offer the model's classification first, then the others seen in the log."""
        others = sorted({name for name in known if name and name != model_classification})
        options = ([model_classification] if model_classification else []) + others
        box = self.classification_box
        box.blockSignals(True)
        text = box.currentText()
        box.clear()
        box.addItems(options)
        if model_classification:
            box.setItemData(0, "the model's classification", Qt.ItemDataRole.ToolTipRole)
        box.setCurrentIndex(-1)
        box.setEditText(text)
        box.blockSignals(False)

    def classification(self) -> str | None:
        """The classification typed or picked (stripped), None when not given."""
        return review_label(self.classification_box.currentText())

    def set_classification(self, value: str | None) -> None:
        """Show ``value`` in the classification box (None = not given)."""
        index = self.classification_box.findText(value) if value else -1
        self.classification_box.setCurrentIndex(index)
        self.classification_box.setEditText(value or "")

    def risk_level(self) -> str | None:
        """The chosen risk level, None when not given."""
        value = self.risk_box.currentData()
        return value if isinstance(value, str) else None

    def set_risk_level(self, value: str | None) -> None:
        """Choose a risk level (None or an unknown value = not given)."""
        index = self.risk_box.findData(value) if value in RISK_LEVELS else 0
        self.risk_box.setCurrentIndex(max(index, 0))

    def set_labels_enabled(self, enabled: bool) -> None:
        """Enable the label boxes (disabled while blind review hides the answer)."""
        for widget in (self.classification_box, self.risk_box):
            widget.setEnabled(enabled)

    def comment_text(self) -> str | None:
        """The comment (stripped), None when empty."""
        return review_label(self.comment.text())

    # --- state ------------------------------------------------------------------------------

    def chosen_decision(self) -> str | None:
        """The checked decision button, if any."""
        index = self.decision_group.checkedId()
        return DECISIONS[index] if index >= 0 else None

    def set_chosen_decision(self, decision: str | None) -> None:
        """Check one decision button (None or an unknown value unchecks all)."""
        if decision in self.decision_buttons:
            self.decision_buttons[decision].setChecked(True)
            return
        self.decision_group.setExclusive(False)
        for button in self.decision_buttons.values():
            button.setChecked(False)
        self.decision_group.setExclusive(True)

    def reasoning_text(self) -> str:
        """The editor's text as typed."""
        return self.editor.toPlainText()

    def set_reasoning_text(self, text: str) -> None:
        """Replace the editor's text (cursor at the end)."""
        self.editor.setPlainText(text)
        self.editor.moveCursor(self.editor.textCursor().MoveOperation.End)

    def set_editor_enabled(self, enabled: bool, placeholder: str = "") -> None:
        """Enable the reasoning editor, or disable it with a placeholder explaining why."""
        self.editor.setEnabled(enabled)
        self.reset_button.setEnabled(enabled)
        self.editor.setPlaceholderText(placeholder)

    def set_status(self, text: str, note: str = "") -> None:
        """The outcome line under the editor and the note beside the title."""
        self.status.setText(text)
        self.note.setText(note)
