"""The widgets and callables the composition root hands the main window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QDialog, QWidget

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.window_actions import ShortcutLike


@dataclass
class WindowParts:
    """The widgets other modules provide, built once by the composition root.

    Args:
        review_panel: the detail pane and correction form (a QWidget).
        shortcuts: the keyboard shortcut list.
        is_text_input: whether a widget takes typed text (single keys stay there).
        statistics_view: the statistics tab (``set_data``), or None.
        collect_statistics: computes the statistics view's data from the log.
        shortcuts_dialog: builds the Help → Keyboard shortcuts dialog.
        loop: a ReviewLoop: runs, the export wizard, run comparison, fine-tuning.
    """

    review_panel: QWidget
    shortcuts: Sequence[ShortcutLike]
    is_text_input: Callable[[QWidget | None], bool]
    statistics_view: QWidget | None = None
    collect_statistics: Callable[[PolicyDecisionLog], object] | None = None
    shortcuts_dialog: Callable[[QWidget], QDialog] | None = None
    loop: Any = None
