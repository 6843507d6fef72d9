"""The keyboard shortcuts of the review window and the help dialog that lists them.

The window binds :data:`SHORTCUTS`; widgets only show the keys in their labels.
Single-key shortcuts (letters, digits, arrows) must not fire while the reviewer
types into a text field: check :func:`is_text_input` on the focus widget first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Shortcut:
    """One command and the keys that trigger it.

    Args:
        keys: ``QKeySequence`` strings, the first is the main one (``("J", "Down")``).
        action_id: the command's stable name, e.g. ``"accept"``.
        description: what the command does, for the help dialog.
        single_key: True when the keys have no modifier and so must not fire
            while a text field has the focus.
    """

    keys: tuple[str, ...]
    action_id: str
    description: str
    single_key: bool


REVIEW, NAVIGATE, GENERAL = "Review", "Navigate", "General"
GROUPS: tuple[str, ...] = (REVIEW, NAVIGATE, GENERAL)

SHORTCUTS: list[Shortcut] = [
    Shortcut(("A",), "accept", "Accept the model's answer as correct", True),
    Shortcut(("1",), "choose_allow", "Choose allow", True),
    Shortcut(("2",), "choose_deny", "Choose deny", True),
    Shortcut(("3",), "choose_attestation", "Choose require attestation", True),
    Shortcut(("4",), "choose_mfa", "Choose require MFA", True),
    Shortcut(("R",), "focus_reasoning", "Edit the reasoning (starts from the model's)", True),
    Shortcut(("C",), "focus_classification",
             "Classification: type or pick the right one (optional)", True),
    Shortcut(("L",), "focus_risk",
             "Risk level (optional): then L, M, H or C for low … critical, N for not given",
             True),
    Shortcut(("M",), "focus_comment", "Comment on the review (optional, plain text)", True),
    Shortcut(("Ctrl+Return", "Ctrl+Enter"), "commit", "Save the review as the form shows it",
             False),
    Shortcut(("S",), "skip", "Skip: move on without saving", True),
    Shortcut(("Ctrl+Z",), "undo", "Undo the last review (the history keeps it)", False),
    Shortcut(("Ctrl+B",), "toggle_blind", "Blind review on/off (hide the model's answer first)",
             False),
    Shortcut(("J", "Down"), "next", "Next decision", True),
    Shortcut(("K", "Up"), "previous", "Previous decision", True),
    Shortcut(("Ctrl+F",), "search", "Search decisions", False),
    Shortcut(("F1",), "show_shortcuts", "Show this list of shortcuts", False),
    Shortcut(("Ctrl+R",), "run_scenarios", "Run scenarios on the local model", False),
    Shortcut(("Ctrl+E",), "export_training", "Export training data (from 50 corrections)",
             False),
    Shortcut(("Ctrl+Q",), "quit", "Quit", False),
]

_GROUP_OF: dict[str, str] = {
    "next": NAVIGATE, "previous": NAVIGATE, "search": NAVIGATE,
    "show_shortcuts": GENERAL, "quit": GENERAL, "toggle_blind": GENERAL,
    "run_scenarios": GENERAL, "export_training": GENERAL,
}  # fmt: skip


def group_of(action_id: str) -> str:
    """The help dialog group of an action: Review, Navigate or General."""
    return _GROUP_OF.get(action_id, REVIEW)


def shortcut_for(action_id: str, shortcuts: Sequence[Shortcut] = SHORTCUTS) -> Shortcut:
    """The shortcut of ``action_id``; KeyError when there is none."""
    for shortcut in shortcuts:
        if shortcut.action_id == action_id:
            return shortcut
    raise KeyError(action_id)


def key_text(key: str) -> str:
    """A key as people read it: ``Ctrl+Return`` shows as ``Ctrl+Enter``."""
    text = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
    return text.replace("Return", "Enter")


def keys_text(shortcut: Shortcut, separator: str = " / ") -> str:
    """Every key of a shortcut (duplicates after :func:`key_text` removed)."""
    return separator.join(dict.fromkeys(key_text(key) for key in shortcut.keys))


def hint(action_id: str) -> str:
    """The main key of an action for button labels and tooltips, e.g. ``Ctrl+Enter``."""
    return key_text(shortcut_for(action_id).keys[0])


def is_text_input(widget: QWidget | None) -> bool:
    """True when typing into ``widget`` would enter text (single keys must not fire).

    Editable line edits, text edits, spin boxes and editable combo boxes count;
    read-only ones do not (a letter typed there does nothing).
    """
    if widget is None:
        return False
    parent = widget.parentWidget()
    if isinstance(parent, QTextEdit | QPlainTextEdit) and widget is parent.viewport():
        widget = parent
    if isinstance(widget, QLineEdit | QTextEdit | QPlainTextEdit | QAbstractSpinBox):
        return not widget.isReadOnly()
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return False


ARROW_KEYS: frozenset[str] = frozenset({"Up", "Down"})
"""Single keys a focused choice widget needs for itself (the window's next/previous)."""


def takes_arrow_keys(widget: QWidget | None) -> bool:
    """True for a widget that Up/Down operate (a combo box, slider or spin box): there
    they choose, not move the review; letters still reach the review."""
    return isinstance(widget, QComboBox | QAbstractSlider | QAbstractSpinBox)


def _label(text: str) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


_KEYCAP_STYLE = (
    "QLabel { border: 1px solid palette(mid); border-bottom-width: 2px; border-radius: 4px;"
    " padding: 1px 7px; background: palette(base); font-family: monospace; }"
)


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: every shortcut with its keys, grouped.

    Args:
        parent: the owning window.
        shortcuts: the list to show (defaults to :data:`SHORTCUTS`).
    """

    def __init__(self, parent: QWidget | None = None,
                 shortcuts: Sequence[Shortcut] = SHORTCUTS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(20, 16, 20, 16)
        body_layout.setSpacing(6)
        for group in GROUPS:
            members = [s for s in shortcuts if group_of(s.action_id) == group]
            if members:
                body_layout.addWidget(self._group_title(group))
                body_layout.addWidget(self._group_grid(members))
                body_layout.addSpacing(10)
        note = _label("Single keys (letters, digits, arrows) are ignored while you type in a "
                      "text field. There, Ctrl+Enter still saves the review and Esc leaves "
                      "the field.")
        note.setWordWrap(True)
        note.setEnabled(False)
        body_layout.addWidget(note)
        body_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 12)
        layout.addWidget(scroll)
        buttons.setContentsMargins(0, 0, 12, 0)
        layout.addWidget(buttons)
        self.resize(560, 620)

    @staticmethod
    def _group_title(group: str) -> QLabel:
        title = _label(group)
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        return title

    @staticmethod
    def _group_grid(shortcuts: Sequence[Shortcut]) -> QWidget:
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        grid.setContentsMargins(8, 2, 0, 0)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(6)
        grid.setColumnMinimumWidth(0, 170)
        grid.setColumnStretch(1, 1)
        for row, shortcut in enumerate(shortcuts):
            keys = QWidget()
            keys_layout = QGridLayout(keys)
            keys_layout.setContentsMargins(0, 0, 0, 0)
            keys_layout.setHorizontalSpacing(4)
            for column, text in enumerate(dict.fromkeys(key_text(k) for k in shortcut.keys)):
                cap = _label(text)
                cap.setObjectName("keycap")
                cap.setStyleSheet(_KEYCAP_STYLE)
                keys_layout.addWidget(cap, 0, column)
            keys_layout.setColumnStretch(len(shortcut.keys), 1)
            description = _label(shortcut.description)
            description.setObjectName("shortcutDescription")
            description.setProperty("action_id", shortcut.action_id)
            description.setWordWrap(True)
            grid.addWidget(keys, row, 0, Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(description, row, 1, Qt.AlignmentFlag.AlignVCenter)
        return grid_widget
