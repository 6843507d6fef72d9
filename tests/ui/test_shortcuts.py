"""The shortcut list, the text-input guard for single keys, and the help dialog."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from policy_desktop.ui.shortcuts import (
    GROUPS,
    SHORTCUTS,
    ShortcutsDialog,
    group_of,
    hint,
    is_text_input,
    key_text,
    keys_text,
    shortcut_for,
)

REQUIRED: dict[str, tuple[str, ...]] = {
    "accept": ("A",),
    "choose_allow": ("1",),
    "choose_deny": ("2",),
    "choose_attestation": ("3",),
    "choose_mfa": ("4",),
    "focus_reasoning": ("R",),
    "commit": ("Ctrl+Return", "Ctrl+Enter"),
    "skip": ("S",),
    "next": ("J", "Down"),
    "previous": ("K", "Up"),
    "undo": ("Ctrl+Z",),
    "search": ("Ctrl+F",),
    "quit": ("Ctrl+Q",),
}


def test_every_required_action_has_its_keys() -> None:
    for action_id, keys in REQUIRED.items():
        assert shortcut_for(action_id).keys == keys
    assert {"toggle_blind", "show_shortcuts"} <= {s.action_id for s in SHORTCUTS}


def test_action_ids_and_keys_are_unique_and_valid() -> None:
    ids = [s.action_id for s in SHORTCUTS]
    assert len(ids) == len(set(ids))
    keys = [QKeySequence(k).toString() for s in SHORTCUTS for k in s.keys]
    assert len(keys) == len(set(keys))
    for shortcut in SHORTCUTS:
        assert shortcut.description
        for key in shortcut.keys:
            assert not QKeySequence(key).isEmpty(), key


def test_single_key_flag_marks_keys_that_type_or_move_in_text() -> None:
    """Letters, digits and arrows without a modifier; not Ctrl shortcuts or F-keys."""
    for shortcut in SHORTCUTS:
        plain = all("+" not in key and not key.startswith("F") for key in shortcut.keys)
        assert shortcut.single_key is plain, shortcut.action_id


def test_key_texts_read_naturally() -> None:
    assert key_text("Ctrl+Return") == "Ctrl+Enter"
    assert keys_text(shortcut_for("commit")) == "Ctrl+Enter"
    assert keys_text(shortcut_for("next")) == "J / Down"
    assert hint("accept") == "A"
    with pytest.raises(KeyError):
        shortcut_for("fly")


def test_groups() -> None:
    assert group_of("accept") == "Review"
    assert group_of("next") == "Navigate"
    assert group_of("quit") == "General"
    assert {group_of(s.action_id) for s in SHORTCUTS} == set(GROUPS)


@pytest.mark.parametrize(("make", "expected"), [
    (QLineEdit, True),
    (QTextEdit, True),
    (QPlainTextEdit, True),
    (QSpinBox, True),
    (QDoubleSpinBox, True),
    (QPushButton, False),
    (QTableView, False),
    (QLabel, False),
    (QWidget, False),
])
def test_is_text_input(qtbot: QtBot, make: type[QWidget], expected: bool) -> None:
    widget = make()
    qtbot.addWidget(widget)
    assert is_text_input(widget) is expected


def test_is_text_input_special_cases(qtbot: QtBot) -> None:
    assert is_text_input(None) is False
    read_only = QPlainTextEdit()
    read_only.setReadOnly(True)
    qtbot.addWidget(read_only)
    assert is_text_input(read_only) is False
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    assert is_text_input(editor.viewport()) is True
    combo = QComboBox()
    qtbot.addWidget(combo)
    assert is_text_input(combo) is False
    combo.setEditable(True)
    assert is_text_input(combo) is True
    assert is_text_input(combo.lineEdit()) is True


def test_dialog_lists_every_shortcut_grouped(qtbot: QtBot) -> None:
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    descriptions = dialog.findChildren(QLabel, "shortcutDescription")
    assert [label.property("action_id") for label in descriptions] == [
        s.action_id for group in GROUPS for s in SHORTCUTS if group_of(s.action_id) == group]
    assert {label.text() for label in descriptions} == {s.description for s in SHORTCUTS}
    caps = {label.text() for label in dialog.findChildren(QLabel, "keycap")}
    assert caps == {key_text(k) for s in SHORTCUTS for k in s.keys}
    texts = {label.text() for label in dialog.findChildren(QLabel)}
    assert set(GROUPS) <= texts
    assert dialog.windowTitle() == "Keyboard shortcuts"
