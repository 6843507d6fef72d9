"""The window's QActions built from the shortcut list, and the text-field guard.

:class:`SingleKeyGuard` keeps single-key shortcuts (``A``, ``1``…``4``, ``J``,
``Down``…) from firing while a text field has the focus: it accepts the
``ShortcutOverride`` event there, so Qt delivers the key to the field instead.
The other way round, a text field must not swallow the window's own
combinations: ``QLineEdit`` claims Ctrl+E, Ctrl+B, Ctrl+F… for Emacs-style
cursor moves on X11, so the guard refuses the override for those and the
window's action fires. Ctrl+Z stays the field's own undo of typing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QToolBar, QWidget

from policy_desktop.ui.shortcuts import ARROW_KEYS, takes_arrow_keys
from policy_desktop.ui.theme import Theme


class ShortcutLike(Protocol):
    """What the window needs of a :class:`policy_desktop.ui.shortcuts.Shortcut`."""

    @property
    def keys(self) -> Sequence[str] | str: ...
    @property
    def action_id(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def single_key(self) -> bool: ...


@dataclass(frozen=True)
class ActionLook:
    """How an action appears in menus and the toolbar."""

    text: str
    icon: str | None = None
    checkable: bool = False
    short: str | None = None  # toolbar text when shorter than the menu text


ACTION_LOOKS: dict[str, ActionLook] = {
    "accept": ActionLook("&Accept", "accept"),
    "accept_selected": ActionLook("Accept all &selected…"),
    "choose_allow": ActionLook("Choose a&llow"),
    "choose_deny": ActionLook("Choose &deny"),
    "choose_attestation": ActionLook("Choose require a&ttestation"),
    "choose_mfa": ActionLook("Choose require &MFA"),
    "focus_reasoning": ActionLook("Edit &reasoning"),
    "commit": ActionLook("&Save review", "commit"),
    "skip": ActionLook("S&kip", "skip"),
    "undo": ActionLook("&Undo review", "undo", short="Undo"),
    "toggle_blind": ActionLook("&Blind review", "blind", checkable=True),
    "team_queue": ActionLook("Work the team &queue", checkable=True),
    "assign_filter": ActionLook("Assi&gn this filter to a reviewer…"),
    "next": ActionLook("&Next decision", "next", short="Next"),
    "previous": ActionLook("&Previous decision", "previous", short="Previous"),
    "search": ActionLook("&Search…", "search"),
    "show_shortcuts": ActionLook("&Keyboard shortcuts", "shortcuts"),
    "quit": ActionLook("&Quit", "quit"),
    # window actions that have no entry in the shortcut list
    "open_database": ActionLook("&Open database…", "open", short="Open"),
    "new_database": ActionLook("&New database…", "new-database"),
    "import_log": ActionLook("&Import log…", "import", short="Import"),
    "preferences": ActionLook("&Preferences…", "preferences"),
    "refresh": ActionLook("&Reload", "refresh"),
    "dark_theme": ActionLook("&Dark theme", "theme", checkable=True),
    "statistics": ActionLook("S&tatistics", "statistics"),
    "about": ActionLook("&About Policy Desktop"),
    "run_scenarios": ActionLook("&Run scenarios…", "run", short="Run"),
    "export_training": ActionLook("&Export training data…", "export", short="Export"),
    "compare_runs": ActionLook("&Compare runs…", "compare", short="Compare"),
    "replay": ActionLook("Re&play decisions…"),
    "prompt_versions": ActionLook("&Prompt versions…"),
    "finetune": ActionLook("&Fine-tune the model…"),
}
STANDARD_KEYS: dict[str, QKeySequence.StandardKey] = {
    "open_database": QKeySequence.StandardKey.Open,
    "new_database": QKeySequence.StandardKey.New,
    "preferences": QKeySequence.StandardKey.Preferences,
    "refresh": QKeySequence.StandardKey.Refresh,
}


LOOP_ACTIONS: dict[str, str] = {
    "run_scenarios": "open_run_dialog", "export_training": "open_export_wizard",
    "compare_runs": "open_compare", "replay": "open_replay", "finetune": "open_finetune",
}  # fmt: skip
"""Actions served by the window's ``ReviewLoop``: action id -> its method (no arguments).
A new one is a line here, its look in :data:`ACTION_LOOKS` and its place in :data:`MENUS`."""

MENUS: dict[str, tuple[str | None, ...]] = {
    "&File": ("open_database", "new_database", None, "import_log", None, "quit"),
    "&Edit": ("undo", None, "preferences"),
    "&Review": ("accept", "choose_allow", "choose_deny", "choose_attestation", "choose_mfa",
                "focus_reasoning", "commit", "skip", None, "accept_selected", None,
                "toggle_blind", "team_queue", "assign_filter"),
    "&Runs": ("run_scenarios", "compare_runs", "replay", "prompt_versions", None,
              "export_training", "finetune"),
}  # fmt: skip
TOOLBAR: tuple[str | None, ...] = (
    "open_database", "import_log", None, "run_scenarios", "export_training", None,
    "accept", "commit", "skip", "undo", None,
    "previous", "next", None, "toggle_blind",
)  # fmt: skip


def add_actions(target: QMenu | QToolBar, actions: Mapping[str, QAction],
                ids: Iterable[str | None]) -> None:
    """Add the actions named by ``ids`` (None: a separator); unknown ids are skipped."""
    for action_id in ids:
        if action_id is None:
            target.addSeparator()
        elif action_id in actions:
            target.addAction(actions[action_id])


def build_toolbar(actions: Mapping[str, QAction]) -> QToolBar:
    """The main toolbar: icons with text, not movable."""
    toolbar = QToolBar("Main toolbar")
    toolbar.setObjectName("mainToolBar")
    toolbar.setMovable(False)
    toolbar.setFloatable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setIconSize(toolbar.iconSize().scaled(18, 18, Qt.AspectRatioMode.KeepAspectRatio))
    add_actions(toolbar, actions, TOOLBAR)
    return toolbar


def choice_actions(menu: QMenu, labels: Mapping[str, str], kind: str,
                   choose: Callable[[str], None]) -> dict[str, QAction]:
    """Checkable menu entries ``action_{kind}_{name}``, one per label, calling ``choose``."""
    actions: dict[str, QAction] = {}
    for name, label in labels.items():
        action = menu.addAction(label)
        action.setObjectName(f"action_{kind}_{name}")
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False, n=name: choose(n))
        actions[name] = action
    return actions


def build_menus(window: QMainWindow, actions: Mapping[str, QAction],
                views: Mapping[str, str], choose_view: Callable[[str], None],
                sorts: Mapping[str, str], choose_sort: Callable[[str], None]
                ) -> tuple[dict[str, QAction], dict[str, QAction], QToolBar]:
    """The menu bar of :data:`MENUS` with View (views and sorts as choices) and Help, and
    the toolbar; return the view choices, the sort choices and the toolbar."""
    menu = window.menuBar()
    for title in ("&File", "&Edit", "&Review", "&Runs"):
        add_actions(menu.addMenu(title), actions, MENUS[title])
    view = menu.addMenu("&View")
    add_actions(view, actions, ("next", "previous", "search", None))
    view_actions = choice_actions(view, views, "view", choose_view)
    sort_actions = choice_actions(view.addMenu("&Sort"), sorts, "sort", choose_sort)
    add_actions(view, actions, (None, "statistics", "refresh", "dark_theme"))
    add_actions(menu.addMenu("&Help"), actions, ("show_shortcuts", None, "about"))
    toolbar = build_toolbar(actions)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    return view_actions, sort_actions, toolbar


REVIEW_ACTIONS = ("accept", "commit", "skip", "focus_reasoning", "choose_allow", "choose_deny",
                  "choose_attestation", "choose_mfa")
"""The actions that review the decision on show."""

WRITING_ACTIONS = ("accept", "commit", "undo", "accept_selected", "import_log",
                   "run_scenarios", "replay", "team_queue", "assign_filter")
"""Actions that write to the database (reviews, decisions, claims, assignments): off while
it is read-only here."""


@dataclass(frozen=True)
class WindowState:
    """What the window's actions depend on."""

    reviewing: bool  # the Review tab is on show (no hidden reviews from another tab)
    has_decision: bool  # the panel shows a decision
    has_rows: bool  # the table is on show
    can_undo: bool
    several_selected: bool
    blind: bool
    has_database: bool
    writable: bool = True  # False: the database is read-only here, nothing can be saved


def enable_actions(actions: Mapping[str, QAction], state: WindowState) -> None:
    """Enable exactly the actions that make sense in ``state`` (absent ones skipped)."""
    enabled = {action_id: state.reviewing and state.has_decision
               for action_id in REVIEW_ACTIONS}
    enabled.update(next=state.reviewing and state.has_rows,
                   previous=state.reviewing and state.has_rows, undo=state.can_undo,
                   accept_selected=state.reviewing and state.several_selected
                   and not state.blind, import_log=state.has_database)
    for action_id in WRITING_ACTIONS:
        enabled[action_id] = enabled.get(action_id, True) and state.writable
    for action_id, on in enabled.items():
        if action_id in actions:
            actions[action_id].setEnabled(on)


def _key_list(keys: Sequence[str] | str) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def build_actions(parent: QWidget, shortcuts: Iterable[ShortcutLike],
                  handlers: Mapping[str, Callable[[], object]], theme: Theme
                  ) -> dict[str, QAction]:
    """One QAction per handler, with the keys and description of the shortcut list.

    Actions are added to ``parent`` so their shortcuts work anywhere in the window.
    """
    by_id = {shortcut.action_id: shortcut for shortcut in shortcuts}
    actions: dict[str, QAction] = {}
    for action_id, handler in handlers.items():
        look = ACTION_LOOKS.get(action_id, ActionLook(action_id.replace("_", " ").capitalize()))
        action = QAction(look.text, parent)
        action.setObjectName(f"action_{action_id}")
        action.setCheckable(look.checkable)
        if look.short:
            action.setIconText(look.short)
        if look.icon:
            action.setIcon(theme.icon(look.icon))
        shortcut = by_id.get(action_id)
        if shortcut is not None:
            action.setShortcuts([QKeySequence(key) for key in _key_list(shortcut.keys)])
            action.setStatusTip(shortcut.description)
            action.setToolTip(f"{shortcut.description} ({action.shortcut().toString()})")
        elif action_id in STANDARD_KEYS:
            action.setShortcuts(QKeySequence.keyBindings(STANDARD_KEYS[action_id]))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False, h=handler: h())
        parent.addAction(action)
        actions[action_id] = action
    return actions


def retint_icons(actions: Mapping[str, QAction], theme: Theme) -> None:
    """Reload the actions' icons for ``theme``."""
    for action_id, action in actions.items():
        look = ACTION_LOOKS.get(action_id)
        if look is not None and look.icon:
            action.setIcon(theme.icon(look.icon))


TEXT_FIELD_KEYS: frozenset[str] = frozenset({"Ctrl+Z"})
"""Window combinations a text field keeps for itself (undo of the typing)."""


def window_key_sequences(shortcuts: Iterable[ShortcutLike]) -> set[str]:
    """The portable texts of every combination (not single-key) shortcut, minus
    :data:`TEXT_FIELD_KEYS`: these fire from every widget, text fields included."""
    keys: set[str] = set()
    for shortcut in shortcuts:
        if not shortcut.single_key:
            keys.update(QKeySequence(key).toString() for key in _key_list(shortcut.keys))
    return keys - TEXT_FIELD_KEYS


def single_key_sequences(shortcuts: Iterable[ShortcutLike]) -> set[str]:
    """The portable texts of every single-key shortcut's keys."""
    keys: set[str] = set()
    for shortcut in shortcuts:
        if shortcut.single_key:
            keys.update(QKeySequence(key).toString() for key in _key_list(shortcut.keys))
    return keys


class SingleKeyGuard(QObject):
    """Lets text fields have the single keys the window uses as shortcuts.

    While a text input has the focus (see ``is_text_input``), the guard watches
    it and accepts ``ShortcutOverride`` for those keys, so the key is typed. A
    focused choice widget (``takes_arrow_keys``: a combo box…) keeps only Up/Down.

    Args:
        keys: key texts as from :func:`single_key_sequences`.
        is_text_input: tells whether a widget takes typed text.
        parent: the window (the guard stops with it).
        window_keys: combinations the window keeps even in text fields
            (:func:`window_key_sequences`).
    """

    def __init__(self, keys: set[str], is_text_input: Callable[[QWidget | None], bool],
                 parent: QObject, window_keys: set[str] | None = None,
                 takes_arrows: Callable[[QWidget | None], bool] = takes_arrow_keys) -> None:
        super().__init__(parent)
        self._keys = keys
        self._window_keys = window_keys or set()
        self._is_text_input = is_text_input
        self._takes_arrows = takes_arrows
        self._watched: QWidget | None = None
        self._watched_keys: set[str] | frozenset[str] = keys
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        app.focusChanged.connect(self._focus_changed)
        self._connected = True
        self._focus_changed(None, QApplication.focusWidget())

    def stop(self) -> None:
        """Stop watching focus changes (again: nothing; a window can be closed twice)."""
        app = QApplication.instance()
        if self._connected and isinstance(app, QApplication):
            with contextlib.suppress(RuntimeError, TypeError):
                app.focusChanged.disconnect(self._focus_changed)
        self._connected = False
        self._unwatch()

    def _unwatch(self) -> None:
        if self._watched is not None:
            with contextlib.suppress(RuntimeError):  # the widget is gone already
                self._watched.removeEventFilter(self)
            self._watched = None

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        self._unwatch()
        if new is None:
            return
        if self._is_text_input(new):
            self._watched_keys = self._keys
        elif self._takes_arrows(new):
            self._watched_keys = self._keys & ARROW_KEYS
        else:
            return
        new.installEventFilter(self)
        self._watched = new

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if modifiers == Qt.KeyboardModifier.NoModifier:
                text = QKeySequence(event.key()).toString()
                if text in self._watched_keys:
                    event.accept()
                    return True
            combination = QKeySequence(event.keyCombination()).toString()
            in_window = isinstance(watched, QWidget) and watched.window() is self.parent()
            if in_window and combination in self._window_keys:  # dialogs keep their keys
                event.ignore()  # not the field's: the window's shortcut fires
                return True
        return False
