"""Runs, exports and comparisons from the main window: the loop from review to a new prompt.

:class:`ReviewLoop` owns the run dialog, the export wizard and the compare dialog of one
window, and the window's part of the background run (asking before closing mid-run).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings

if TYPE_CHECKING:  # the dialogs are imported when first opened, off the start-up path
    from policy_desktop.export.fewshot_selection import EmbedFn
    from policy_desktop.ui.compare_dialog import CompareDialog
    from policy_desktop.ui.export_wizard import ExportWizard
    from policy_desktop.ui.finetune_dialog import FinetuneDialog
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.replay_dialog import ReplayDialog
    from policy_desktop.ui.replay_worker import ModelFactory
    from policy_desktop.ui.run_dialog import RunDialog


class ReviewLoop(QObject):
    """Run scenarios (Ctrl+R), export training data (Ctrl+E) and compare runs for a window."""

    def __init__(self, controller: RunController, settings: Settings,
                 parent: QObject | None = None, *, embed: EmbedFn | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.embed = embed  # the app's shared embedding service (None: the export starts one)
        self.window: MainWindow | None = None
        self.run_dialog: RunDialog | None = None
        self.export_wizard: ExportWizard | None = None
        self.compare_dialog: CompareDialog | None = None
        self.finetune_dialog: FinetuneDialog | None = None
        self.replay_dialog: ReplayDialog | None = None
        self.replay_model_factory: ModelFactory | None = None  # None: the real candidates
        self._quit_after_cancel = False
        for signal in (controller.worker.cancelled, controller.worker.finished,
                       controller.worker.failed):
            signal.connect(self._after_run)

    def attach(self, window: MainWindow) -> None:
        """Serve ``window`` (called once by the window)."""
        self.window = window
        window.run_quick_suite_requested.connect(self.run_quick_suite)
        window.database_opened.connect(self._database_changed)

    def _database_changed(self, _display_name: str) -> None:
        if self.run_dialog is not None and self.window is not None and self.window.database:
            self.run_dialog.database = self.window.database.location

    def _parent(self) -> QWidget | None:
        return self.window

    # --- runs ---------------------------------------------------------------------------

    def open_run_dialog(self) -> RunDialog:
        """Show the run dialog (one per window), raised if already open."""
        from policy_desktop.ui.run_dialog import RunDialog

        window = self.window
        location = window.database.location if window and window.database else ""
        if self.run_dialog is None:
            dialog = RunDialog(self.controller, self.settings, location, parent=self._parent())
            dialog.setWindowFlag(Qt.WindowType.Window, True)
            dialog.review_failures_requested.connect(self.review_failures)
            self.run_dialog = dialog
        if location and not self.controller.running:
            self.run_dialog.database = location
        self.run_dialog.refresh_prompt_versions()
        self.run_dialog.show()
        self.run_dialog.raise_()
        self.run_dialog.activateWindow()
        return self.run_dialog

    def run_quick_suite(self) -> None:
        """The welcome panel's "Run quick suite": open the dialog and start at once."""
        dialog = self.open_run_dialog()
        if not self.controller.running:
            dialog.select_quick()
            dialog.start_run()

    def run_suite_with(self, prompt_version: str) -> None:
        """Run the full suite with ``prompt_version`` (after creating it in the wizard)."""
        dialog = self.open_run_dialog()
        dialog.refresh_prompt_versions(select=prompt_version)
        if not self.controller.running:
            dialog.select_full()
            dialog.start_run()

    def review_failures(self, run_id: str) -> None:
        """Show this run's incorrect decisions in the table."""
        if self.window is not None:
            self.window.show_run_failures(run_id)
            self.window.raise_()
            self.window.activateWindow()

    # --- export and compare -------------------------------------------------------------

    def open_export_wizard(self) -> None:
        """Count corrections on the database thread, then show the wizard."""
        window = self.window
        if window is None or window.database is None:
            return
        location = window.database.location
        window.executor.submit(PolicyDecisionLog.count_corrections,
                               lambda count: self._show_wizard(location, count))

    def _show_wizard(self, location: str, corrections: int) -> None:
        from policy_desktop.ui.export_wizard import ExportWizard

        if self.export_wizard is not None:
            self.export_wizard.close()
        wizard = ExportWizard(location, corrections, self.settings, parent=self._parent(),
                              embed=self.embed)
        wizard.setWindowFlag(Qt.WindowType.Window, True)
        wizard.run_suite_requested.connect(self.run_suite_with)
        wizard.replay_requested.connect(self.replay_with)
        wizard.finetune_requested.connect(self.open_finetune)
        wizard.result_page.prompt_version_created.connect(self._prompt_created)
        self.export_wizard = wizard
        wizard.show()

    def _prompt_created(self, name: str) -> None:
        if self.run_dialog is not None:
            self.run_dialog.refresh_prompt_versions()

    def open_finetune(self, export_dir: Path | None = None) -> None:
        """Runs → Fine-tune the model…: train an adapter from the reviewed corrections (from
        ``export_dir`` when the export wizard just wrote one)."""
        if self.window is None or self.window.database is None:
            return
        from policy_desktop.ui.finetune_dialog import FinetuneDialog

        if self.finetune_dialog is not None and self.finetune_dialog.isVisible():
            self.finetune_dialog.raise_()
            return
        model = Path(self.settings.model_path) if self.settings.model_path else None
        dialog = FinetuneDialog(self.window.database.location, base_model=model,
                                export_dir=export_dir if isinstance(export_dir, Path) else None,
                                parent=self._parent())
        dialog.setWindowFlag(Qt.WindowType.Window, True)
        dialog.modelRegistered.connect(self._model_registered)
        dialog.suiteRequested.connect(self.run_suite_with_model)
        self.finetune_dialog = dialog
        dialog.show()

    def run_suite_with_model(self, name: str) -> None:
        """Run the full suite with a registered fine-tuned model (and its own prompt)."""
        dialog = self.open_run_dialog()
        dialog.select_tuned_model(name)
        if not self.controller.running:
            dialog.select_full()
            dialog.start_run()

    def _model_registered(self, name: str) -> None:
        if self.run_dialog is not None:
            self.run_dialog.select_tuned_model(name)

    def open_compare(self) -> None:
        """Show the compare dialog for the window's database."""
        if self.window is None or self.window.database is None:
            return
        from policy_desktop.ui.compare_dialog import CompareDialog

        if self.compare_dialog is not None:
            self.compare_dialog.close()
        dialog = CompareDialog(self.window.executor, self._parent())
        dialog.setWindowFlag(Qt.WindowType.Window, True)
        self.compare_dialog = dialog
        dialog.show()

    # --- replay -------------------------------------------------------------------------

    def open_replay(self, *, candidate_prompt: str | None = None,
                    newest: int | None = None, reviewed_only: bool = False) -> ReplayDialog | None:
        """Runs → Replay…: re-decide logged decisions, chosen like the table's (its current
        filter is the starting point), with a candidate prompt version or model."""
        window = self.window
        if window is None or window.database is None:
            return None
        from policy_desktop.store.queries import DecisionFilter
        from policy_desktop.ui.replay_dialog import DEFAULT_NEWEST, open_replay_dialog

        if self.replay_dialog is not None and self.replay_dialog.isVisible() \
                and candidate_prompt is None:
            self.replay_dialog.raise_()
            return self.replay_dialog
        if self.replay_dialog is not None:
            self.replay_dialog.close()
        table_filter = DecisionFilter(view="reviewed") if reviewed_only \
            else window.filter_bar.filter
        dialog = open_replay_dialog(
            self._parent(), window.database.location, table_filter=table_filter,
            candidate_prompt=candidate_prompt,
            newest=DEFAULT_NEWEST if newest is None else newest,
            model_factory=self.replay_model_factory)
        dialog.show_in_table_requested.connect(self.show_replay_decisions)
        self.replay_dialog = dialog
        return dialog

    def replay_with(self, prompt_version: str) -> None:
        """The export wizard's "Replay the last 500 reviewed decisions with it"."""
        dialog = self.open_replay(candidate_prompt=prompt_version, newest=500,
                                  reviewed_only=True)
        if dialog is not None:
            dialog.start_replay()

    def show_replay_decisions(self, run_id: str, original_ids: list[str],
                              replay_ids: list[str]) -> None:
        """A flip-matrix cell's "Show in table": exactly that cell's decisions, the
        originals and their replay answers, in the table."""
        window = self.window
        if window is None:
            return
        window.tabs.setCurrentWidget(window.review_pages)
        window.filter_bar.show_decisions(
            [*original_ids, *replay_ids], f"{len(replay_ids)} replayed decision(s) of {run_id}")
        window.raise_()
        window.activateWindow()

    # --- closing ------------------------------------------------------------------------

    def may_close(self) -> bool:
        """True when the window may close now; during a run, ask, cancel, close afterwards."""
        if not self.controller.running:
            return True
        answer = QMessageBox.question(
            self._parent(), "A run is in progress",
            "Cancel the run and quit? Scenarios that finished stay logged.")
        if answer == QMessageBox.StandardButton.Yes:
            self._quit_after_cancel = True
            self.controller.cancel()
        return False

    def _after_run(self, *_args: object) -> None:
        if self._quit_after_cancel and self.window is not None:
            self._quit_after_cancel = False
            self.window.close()
