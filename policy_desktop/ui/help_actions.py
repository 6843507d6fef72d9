"""The window's Help menu and its explanations (no database work)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from policy_desktop.ui.window_dialogs import WindowDialogs


class HelpActions:
    """Help → Keyboard shortcuts, About; Runs → Prompt versions; the quick-suite command.

    Args:
        window: the dialogs' parent.
        dialogs: keeps the dialogs open.
        shortcuts_dialog: builds the shortcut list's dialog (None: not offered).
    """

    def __init__(self, window: QWidget, dialogs: WindowDialogs,
                 shortcuts_dialog: Callable[[QWidget], QDialog] | None) -> None:
        self._window = window
        self._dialogs = dialogs
        self._shortcuts_dialog = shortcuts_dialog

    def show_shortcuts(self) -> None:
        """Help → Keyboard shortcuts."""
        if self._shortcuts_dialog is not None:
            self._dialogs.keep(self._shortcuts_dialog(self._window)).open()

    def show_prompt_versions(self) -> None:
        """Runs → Prompt versions…: read a version's whole prompt."""
        from policy_desktop.ui.prompt_viewer import PromptViewer

        self._dialogs.keep(PromptViewer(parent=self._window)).open()

    def show_about(self) -> None:
        """Help → About."""
        from policy_desktop import __version__

        self._dialogs.message(QMessageBox.Icon.Information, "About Policy Desktop",
                              f"Policy Desktop {__version__}",
                              "Log, run, review and export the access-policy decisions of "
                              "a local LLM.")

    def explain_run_command(self, database: str) -> None:
        """A window without the run machinery: how to run the quick suite in a terminal."""
        self._dialogs.message(
            QMessageBox.Icon.Information, "Run the quick suite",
            "This window has no run engine attached. Run the quick suite in a terminal:",
            f"policy-desktop run --db {database}\n\nIts decisions appear here within "
            "seconds, while it runs.")
