"""The read-only view of one logged decision: situation, model answer, evaluation, history.

Everything shown here comes from the log and is untrusted: it is shown as plain
text only (``Qt.TextFormat.PlainText`` labels and a read-only ``QPlainTextEdit``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.store import PolicyDecision, ReviewEvent
from policy_desktop.store.decision import UNDO_ACTION, parse_timestamp
from policy_desktop.ui.decision_style import (
    REVIEW_ACTION_LABELS,
    DecisionBadge,
    decision_label,
    decision_text,
    risk_text,
)

KNOWN_SITUATION_KEYS: tuple[str, ...] = (
    "actor", "role", "action", "target", "environment", "trust_score", "trust",
    "mfa_verified", "mfa", "time",
)  # fmt: skip
"""Shown first, in this order; every other key follows in the order it was logged."""


# --- text helpers (pure) ----------------------------------------------------------------

def local_time(timestamp: str | None) -> str:
    """An ISO-8601 timestamp as local ``YYYY-MM-DD HH:MM:SS`` (unparseable text as is)."""
    if not timestamp:
        return "—"
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        return timestamp
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _is_block(value: Any) -> bool:
    """True for values shown on their own indented lines (objects, lists of objects)."""
    if isinstance(value, dict):
        return bool(value)
    return isinstance(value, list) and any(isinstance(item, dict | list) for item in value)


def format_value(value: Any, indent: int = 0) -> str:
    """A situation value as readable text; nested objects become indented lines."""
    pad = "  " * indent
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value if value else "(empty)"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict):
        if not value:
            return "(empty)"
        lines = []
        for key, item in value.items():
            text = format_value(item, indent + 1)
            if _is_block(item):
                lines.append(f"{pad}{key}:\n{text}")
            else:
                lines.append(f"{pad}{key}: {text.strip()}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "(empty list)"
        if all(not isinstance(item, dict | list) for item in value):
            return ", ".join(format_value(item) for item in value)
        return "\n".join(f"{pad}- {format_value(item, indent + 1).strip()}" for item in value)
    return str(value)


def situation_items(situation: dict[str, Any]) -> list[tuple[str, str]]:
    """Every key of a situation with its text; the usual keys first."""
    known = [key for key in KNOWN_SITUATION_KEYS if key in situation]
    rest = [key for key in situation if key not in known]
    return [(str(key), format_value(situation[key])) for key in known + rest]


def percent(value: float | None) -> str:
    """``0.78`` as ``78%`` (``—`` when unknown)."""
    return "—" if value is None else f"{value:.0%}"


def undone_event_ids(history: Iterable[ReviewEvent]) -> set[int]:
    """Ids of the review events that a later undo reverted."""
    stack: list[ReviewEvent] = []
    undone: set[int] = set()
    for event in history:
        if event.action == UNDO_ACTION:
            if stack:
                undone.add(stack.pop().id)
        else:
            stack.append(event)
    return undone


def history_labels(event: ReviewEvent) -> str:
    """The labels a review gave, e.g. ``Classification: docs_write · Risk level: low``."""
    parts = []
    if event.review_classification:
        parts.append(f"Classification: {event.review_classification}")
    if event.review_risk_level:
        parts.append(f"Risk level: {event.review_risk_level}")
    return breakable("  ·  ".join(parts))


LONG_TEXT_LIMIT = 600
"""Characters of a value shown before "Show all"; longer values are elided."""
_BREAK_EVERY = 40
_ZERO_WIDTH_SPACE = "\u200b"


def breakable(text: str) -> str:
    """``text`` with a zero-width break in every run of 40 characters without a space.

    A word-wrapped label is at least as wide as its longest word: a 20,000-character
    token would push the panel sideways and cut off the form.
    """
    if len(text) <= _BREAK_EVERY:
        return text
    parts = []
    for word in text.split(" "):
        if len(word) > _BREAK_EVERY:
            word = _ZERO_WIDTH_SPACE.join(word[i:i + _BREAK_EVERY]
                                          for i in range(0, len(word), _BREAK_EVERY))
        parts.append(word)
    return " ".join(parts)


def elided(text: str, limit: int = LONG_TEXT_LIMIT) -> str:
    """The start of a long ``text`` (cut at a space when one is near) and an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 80, limit)
    return text[:cut if cut > 0 else limit].rstrip() + " …"


# --- widget helpers -----------------------------------------------------------------------

def plain_label(text: str = "", *, wrap: bool = True, selectable: bool = True,
                object_name: str | None = None) -> QLabel:
    """A QLabel that never interprets its text as rich text."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if object_name:
        label.setObjectName(object_name)
    return label


KEY_COLUMN_WIDTH = 150


def mute(label: QLabel) -> QLabel:
    """Draw ``label`` in the palette's secondary text colour."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def muted_label(text: str) -> QLabel:
    """A fixed caption in the palette's secondary text colour."""
    return mute(plain_label(text, wrap=False, selectable=False, object_name="caption"))


def refresh_layouts(widget: QWidget) -> None:
    """Recompute every layout under ``widget`` now.

    Rows added while the widget was not yet shown leave stale size caches in the
    parent layouts (word-wrapped labels then get clipped); this clears them.
    """
    for layout in widget.findChildren(QLayout):
        layout.invalidate()
    own = widget.layout()
    if own is not None:
        own.invalidate()
        own.activate()
    widget.updateGeometry()


def clear_layout(layout: QLayout) -> None:
    """Remove and delete every widget and sub-layout of ``layout``."""
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        child, inner = item.widget(), item.layout()
        if child is not None:
            child.deleteLater()
        elif inner is not None:
            clear_layout(inner)


class Section(QFrame):
    """A titled block of the detail view."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailSection")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 10, 0, 4)
        outer.setSpacing(6)
        self.title = plain_label(title.upper(), wrap=False, selectable=False)
        font = self.title.font()
        font.setBold(True)
        font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 108)
        font.setPointSizeF(font.pointSizeF() * 0.9)
        self.title.setFont(font)
        mute(self.title)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.addWidget(self.title)
        self.header.addStretch(1)
        outer.addLayout(self.header)
        self.body = QVBoxLayout()
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(6)
        outer.addLayout(self.body)


class LongValue(QWidget):
    """A value that wraps anywhere; past :data:`LONG_TEXT_LIMIT` characters, elided with
    a "Show all" button that opens the whole text in a scrolling box of bounded height."""

    def __init__(self, text: str, object_name: str = "detailValue",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = text
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.label = plain_label(breakable(elided(text)), object_name=object_name)
        layout.addWidget(self.label)
        self.toggle: QToolButton | None = None
        self.box: QPlainTextEdit | None = None
        if len(text) > LONG_TEXT_LIMIT:
            self.toggle = QToolButton()
            self.toggle.setObjectName("showAll")
            self.toggle.setAutoRaise(True)
            self.toggle.setCheckable(True)
            self.toggle.setText(f"Show all ({len(text):,} characters)")
            self.toggle.toggled.connect(self._expand)
            layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)

    def text(self) -> str:
        """The label's text without the inserted line breaks."""
        return self.label.text().replace(_ZERO_WIDTH_SPACE, "")

    def _expand(self, expanded: bool) -> None:
        assert self.toggle is not None
        if self.box is None:
            self.box = QPlainTextEdit()
            self.box.setObjectName("fullValue")
            self.box.setReadOnly(True)
            self.box.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            self.box.setPlainText(self.full_text)
            self.box.setMaximumHeight(240)
            layout = self.layout()
            assert isinstance(layout, QVBoxLayout)
            layout.insertWidget(1, self.box)
        self.box.setVisible(expanded)
        self.label.setVisible(not expanded)
        self.toggle.setText("Show less" if expanded
                            else f"Show all ({len(self.full_text):,} characters)")


class KeyValueGrid(QWidget):
    """Rows of ``key  value`` labels (keys muted, values wrapping)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(18)
        self.grid.setVerticalSpacing(5)
        self.grid.setColumnStretch(1, 1)
        self.grid.setColumnMinimumWidth(0, KEY_COLUMN_WIDTH)

    def set_items(self, items: Iterable[tuple[str, str | QWidget]]) -> None:
        """Replace the rows; a value may be text or a ready widget."""
        clear_layout(self.grid)
        for row, (key, value) in enumerate(items):
            key_label = mute(plain_label(breakable(elided(key, 120)), wrap=True,
                                         object_name="detailKey"))
            key_label.setMaximumWidth(KEY_COLUMN_WIDTH + 60)
            value_widget = value if isinstance(value, QWidget) else LongValue(value)
            self.grid.addWidget(key_label, row, 0, Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(value_widget, row, 1, Qt.AlignmentFlag.AlignTop)

    def value_texts(self) -> dict[str, str]:
        """Key → value text of the rows made of labels (for tests and copying)."""
        result: dict[str, str] = {}
        for row in range(self.grid.rowCount()):
            key_item = self.grid.itemAtPosition(row, 0)
            value_item = self.grid.itemAtPosition(row, 1)
            if key_item is None or value_item is None:
                continue
            key, value = key_item.widget(), value_item.widget()
            if isinstance(key, QLabel) and isinstance(value, LongValue):
                result[key.text()] = value.full_text
            elif isinstance(key, QLabel) and isinstance(value, QLabel):
                result[key.text()] = value.text()
        return result


def _badge_row(*widgets: QWidget) -> QWidget:
    """Widgets side by side; a trailing wrapping label takes the rest of the width."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(8)
    for widget in widgets:
        layout.addWidget(widget)
    last = widgets[-1] if widgets else None
    if isinstance(last, QLabel) and last.wordWrap() and not isinstance(last, DecisionBadge):
        layout.setStretchFactor(last, 1)
    else:
        layout.addStretch(1)
    return row


class DetailView(QWidget):
    """Shows one decision; in blind mode the model's answer and its evaluation stay hidden.

    Call :meth:`show_decision`, then :meth:`set_model_answer_visible` to hide or
    reveal everything that tells the model's answer or whether it was right.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._decision: PolicyDecision | None = None
        self._answer_visible = True
        self._response_length = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(4)

        self.id_label = plain_label(wrap=False, object_name="decisionId")
        font = self.id_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.id_label.setFont(font)
        self.meta_label = mute(plain_label(object_name="decisionMeta"))
        self.state_label = plain_label(object_name="reviewState")
        layout.addWidget(self.id_label)
        layout.addWidget(self.meta_label)
        layout.addWidget(self.state_label)

        self.situation = KeyValueGrid()
        self.team_context = plain_label(object_name="teamContext")
        situation_section = Section("Situation")
        situation_section.body.addWidget(self.situation)
        context_section = Section("Team context")
        context_section.body.addWidget(self.team_context)

        self.decision_badge = DecisionBadge()
        self.decision_badge.setObjectName("modelDecision")
        self.model_facts = KeyValueGrid()
        self.reasoning = plain_label(object_name="modelReasoning")
        self.reasoning.setStyleSheet("QLabel#modelReasoning { background: palette(base);"
                                     " border: 1px solid palette(mid); border-radius: 6px;"
                                     " padding: 8px 10px; }")
        self.model_section = Section("Model answer")
        self.model_section.body.addWidget(_badge_row(self.decision_badge))
        self.model_section.body.addWidget(self.model_facts)
        self.model_section.body.addWidget(muted_label("Reasoning"))
        self.model_section.body.addWidget(self.reasoning)

        self.expected_badge: DecisionBadge | None = None
        self.verdict: QLabel | None = None
        self.evaluation = KeyValueGrid()
        self.evaluation_section = Section("Evaluation")
        self.evaluation_section.body.addWidget(self.evaluation)

        self.response_toggle = QToolButton()
        self.response_toggle.setObjectName("responseToggle")
        self.response_toggle.setCheckable(True)
        self.response_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.response_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.response_toggle.setAutoRaise(True)
        self.response_toggle.toggled.connect(self._on_response_toggled)
        self.full_response = QPlainTextEdit()
        self.full_response.setObjectName("fullResponse")
        self.full_response.setReadOnly(True)
        self.full_response.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.full_response.setFont(QFont("monospace"))
        self.full_response.setMinimumHeight(180)
        self.full_response.setVisible(False)
        self.response_section = Section("Full response")
        self.response_section.header.insertWidget(1, self.response_toggle)
        self.response_section.body.addWidget(self.full_response)

        self.history = QVBoxLayout()
        self.history.setSpacing(8)
        self.history_section = Section("Review history")
        self.history_section.body.addLayout(self.history)

        self.hidden_note = Section("Model answer")
        self.hidden_note.setObjectName("blindNote")
        note = plain_label(
            "◌  Hidden for blind review. Choose the decision you think is right (keys 1–4): "
            "the model's answer, its evaluation and earlier reviews then appear.",
            object_name="blindNoteText")
        note.setStyleSheet("QLabel#blindNoteText { background: palette(base);"
                           " border: 1px dashed palette(placeholder-text); border-radius: 6px;"
                           " padding: 12px; }")
        self.hidden_note.body.addWidget(note)
        self.hidden_note.setVisible(False)

        for widget in (situation_section, context_section, self.hidden_note, self.model_section,
                       self.evaluation_section, self.response_section, self.history_section):
            layout.addWidget(widget)
        layout.addStretch(1)

    # --- public API -----------------------------------------------------------------------

    def show_decision(self, decision: PolicyDecision, history: list[ReviewEvent]) -> None:
        """Fill every section from ``decision`` and its review ``history``."""
        self._decision = decision
        self.id_label.setText(decision.decision_id or "(no id)")
        self.meta_label.setText(self._meta_text(decision))
        self.situation.set_items(situation_items(decision.situation)
                                 or [("(empty)", "The situation has no keys.")])
        self.team_context.setText(breakable(decision.team_context or "(none)"))
        self.decision_badge.set_decision(decision.decision)
        self.model_facts.set_items([
            ("Classification", decision.classification or "—"),
            ("Risk level", risk_text(decision.risk_level)),
            ("Confidence", percent(decision.confidence)),
        ])
        self.reasoning.setText(breakable(decision.reasoning or "(no reasoning)"))
        self._fill_evaluation(decision)
        self._fill_response(decision.full_response)
        self._fill_history(history)
        self._update_state_label()
        refresh_layouts(self)

    def set_model_answer_visible(self, visible: bool) -> None:
        """Show or hide everything that reveals the model's answer or its correctness."""
        self._answer_visible = visible
        for widget in (self.model_section, self.evaluation_section, self.response_section,
                       self.history_section):
            widget.setVisible(visible)
        self.hidden_note.setVisible(not visible)
        self._update_state_label()
        refresh_layouts(self)

    def is_model_answer_visible(self) -> bool:
        """False while blind review hides the model's answer."""
        return self._answer_visible

    # --- filling ----------------------------------------------------------------------------

    @staticmethod
    def _meta_text(decision: PolicyDecision) -> str:
        parts = [local_time(decision.timestamp)]
        if decision.scenario_id:
            parts.append(f"Scenario {decision.scenario_id}")
        parts.append(f"{decision.model_name} {decision.model_version}")
        parts.append(f"Prompt {decision.prompt_version}")
        parts.append(f"Run {decision.run_id}" if decision.run_id else "No run")
        return "  ·  ".join(parts)

    def _update_state_label(self) -> None:
        decision = self._decision
        if decision is None:
            return
        if not decision.reviewed:
            text = "○ Not reviewed yet"
        elif not self._answer_visible:
            text = "● Reviewed before (details hidden until you choose)"
        else:
            action = REVIEW_ACTION_LABELS.get(decision.review_action or "", "reviewed")
            who = f" by {decision.reviewer}" if decision.reviewer else ""
            text = f"● Reviewed: {action}{who}, {local_time(decision.review_timestamp)}"
            if decision.review_action in ("correct_decision", "correct_both"):
                text += (f"  ({decision_label(decision.decision)} → "
                         f"{decision_label(decision.review_decision)})")
        self.state_label.setText(text)

    def _fill_evaluation(self, decision: PolicyDecision) -> None:
        items: list[tuple[str, str | QWidget]] = []
        self.expected_badge = self.verdict = None
        if decision.expected_decision is None:
            items.append(("Expected", "No expected decision (not a scenario of the suite)"))
        else:
            # The grid deletes its widgets on refill, so the badge row is made afresh.
            self.expected_badge = DecisionBadge()
            self.expected_badge.setObjectName("expectedDecision")
            self.expected_badge.set_decision(decision.expected_decision)
            if decision.decision_correct is True:
                verdict = "✓ Correct: the model matched"
            elif decision.decision_correct is False:
                verdict = "✗ Incorrect: the model answered differently"
            else:
                verdict = "Not evaluated"
            self.verdict = plain_label(verdict, object_name="verdict")
            items.append(("Expected", _badge_row(self.expected_badge, self.verdict)))
        items.append(("Reasoning coverage", percent(decision.reasoning_coverage)))
        items.append(("Tags", ", ".join(decision.tags) if decision.tags else "(none)"))
        self.evaluation.set_items(items)

    def _fill_response(self, text: str | None) -> None:
        self.full_response.setPlainText(text or "")
        self._response_length = len(text or "")
        self.response_toggle.setEnabled(bool(text))
        if not text:
            self.response_toggle.setChecked(False)
        self._on_response_toggled(self.response_toggle.isChecked())

    def _on_response_toggled(self, expanded: bool) -> None:
        """Show or hide the full response; the choice sticks for the next decisions."""
        has_text = self.response_toggle.isEnabled()
        self.full_response.setVisible(expanded and has_text)
        self.response_toggle.setArrowType(
            Qt.ArrowType.DownArrow if expanded and has_text else Qt.ArrowType.RightArrow)
        if not has_text:
            self.response_toggle.setText("None recorded")
        else:
            verb = "Hide" if expanded else "Show"
            self.response_toggle.setText(f"{verb}  ({self._response_length:,} characters)")

    def _fill_history(self, history: list[ReviewEvent]) -> None:
        clear_layout(self.history)
        if not history:
            self.history.addWidget(plain_label("No reviews yet.", object_name="historyEmpty"))
            return
        undone = undone_event_ids(history)
        for event in history:
            self.history.addWidget(self._history_entry(event, event.id in undone))

    @staticmethod
    def _history_entry(event: ReviewEvent, undone: bool) -> QWidget:
        entry = QFrame()
        entry.setObjectName("historyEntry")
        entry.setStyleSheet("QFrame#historyEntry { border-left: 3px solid palette(mid);"
                            " padding-left: 8px; }")
        layout = QVBoxLayout(entry)
        layout.setContentsMargins(10, 2, 0, 2)
        layout.setSpacing(2)
        who = event.reviewer or "unnamed reviewer"
        head = f"{local_time(event.timestamp)}  ·  {who}"
        layout.addWidget(plain_label(head, object_name="historyHead"))
        if event.action == UNDO_ACTION:
            what = "↶ Undid the previous review"
        else:
            what = REVIEW_ACTION_LABELS.get(event.action, event.action).capitalize()
            if event.action in ("correct_decision", "correct_both"):
                what += f" → {decision_text(event.review_decision)}"
        if event.blind_decision:
            what += f"   (blind first choice: {decision_label(event.blind_decision)})"
        if undone:
            what += "   — undone"
        what_label = plain_label(what, object_name="historyWhat")
        if undone:
            font = what_label.font()
            font.setStrikeOut(True)
            what_label.setFont(font)
        layout.addWidget(what_label)
        labels = history_labels(event)
        if labels:
            layout.addWidget(plain_label(labels, object_name="historyLabels"))
        if event.review_reasoning:
            reasoning = plain_label(breakable(f"“{event.review_reasoning}”"),
                                    object_name="historyReasoning")
            layout.addWidget(reasoning)
        if event.comment:
            comment = LongValue(f"Comment: {event.comment}", object_name="historyComment")
            layout.addWidget(comment)
        if undone:
            entry.setEnabled(False)
        return entry

