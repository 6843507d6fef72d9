"""The export wizard: from reviewed corrections to training data and a new prompt version.

Readiness → Options → Preview → (Finish) → Result. The 50-correction gate is the
export package's own rule (``ExportOptions`` / ``export_training_data``); the wizard
only shows it. Previews and exports run on an :class:`ExportController` thread.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from policy_desktop.engine.prompts import PromptCatalog, PromptError, format_example
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    FORMAT_FILES,
    SEED_JSON_FILE,
    ExportOptions,
)
from policy_desktop.ui.export_worker import ExportController
from policy_desktop.ui.file_dialogs import existing_directory
from policy_desktop.ui.settings import CONTEXT_SIZES, Settings
from policy_desktop.vocabulary import DECISIONS, TRAINING_GATE

if TYPE_CHECKING:
    from policy_desktop.export.fewshot_selection import EmbedFn
    from policy_desktop.export.results import ExportPreview, ExportResult
    from policy_desktop.export.token_budget import TokenBudget, TokenCounter

FORMAT_LABELS: dict[str, str] = {
    "fewshot": "Few-shot examples for a new prompt version",
    "seed_json": "Fine-tuning dataset (the seed's prompt/response JSON)",
    "chat_jsonl": "Chat fine-tuning lines (OpenAI / TRL SFTTrainer messages)",
    "dpo": "Preference pairs (TRL DPO: chosen = correction, rejected = model)",
}
FILE_DESCRIPTIONS: dict[str, str] = {
    FEWSHOT_FILE: "examples in the prompt's own format",
    SEED_JSON_FILE: "prompt/response pairs with metadata",
    CHAT_FILE: "one {\"messages\": [...]} per line",
    DPO_FILE: "one {\"prompt\", \"chosen\", \"rejected\"} per line",
}


class PageId(IntEnum):
    READINESS = 0
    OPTIONS = 1
    PREVIEW = 2
    RESULT = 3


def _plain_label(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    return label


def _human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return f"{size} bytes"


class ReadinessPage(QWizardPage):
    """Corrections so far against the gate; below it, how many more and no way on."""

    def __init__(self, corrections: int) -> None:
        super().__init__()
        self.setTitle("Ready to export?")
        self.setSubTitle("Training data needs enough human corrections to be worth learning from.")
        self.corrections = corrections
        layout = QVBoxLayout(self)
        self.bar = QProgressBar()
        self.bar.setRange(0, TRAINING_GATE)
        self.bar.setValue(min(corrections, TRAINING_GATE))
        self.bar.setFormat(f"{corrections} of {TRAINING_GATE} corrections")
        self.message = _plain_label()
        if self.isComplete():
            self.message.setText(
                f"{corrections} corrections are ready. Next: choose what to write.")
        else:
            more = TRAINING_GATE - corrections
            self.message.setText(
                f"{corrections} corrections so far; {more} more needed before training data "
                f"can be exported. Review more decisions (the Incorrect filter is a good "
                f"place to start) and come back.")
        layout.addWidget(self.bar)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def isComplete(self) -> bool:
        return self.corrections >= TRAINING_GATE


class OptionsPage(QWizardPage):
    """Destination, formats and selection options (the CLI's options, with checkboxes)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.setTitle("What to export")
        self.setSubTitle("The folder is written atomically: complete, or not at all.")
        self._settings = settings
        layout = QVBoxLayout(self)
        folder_row = QHBoxLayout()
        self.folder = QLineEdit(self._default_folder())
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Destination folder:", folder_row)
        self.fewshot_count = QSpinBox()
        self.fewshot_count.setRange(1, 64)
        self.fewshot_count.setValue(8)
        form.addRow("Few-shot examples:", self.fewshot_count)
        self.context_size = QSpinBox()
        self.context_size.setObjectName("exportContextSize")
        self.context_size.setRange(*CONTEXT_SIZES)
        self.context_size.setSingleStep(1024)
        self.context_size.setGroupSeparatorShown(True)
        self.context_size.setSuffix(" tokens")
        self.context_size.setValue(settings.context_size)
        self.context_size.setToolTip("The target model's context (n_ctx, as in Preferences): "
                                     "the examples are chosen so the new prompt fits it")
        form.addRow("Target model's context:", self.context_size)
        self.excluded: set[str] = set()  # decision ids left out in the preview
        layout.addLayout(form)
        formats = QGroupBox("Formats")
        formats_layout = QVBoxLayout(formats)
        self.formats: dict[str, QCheckBox] = {}
        for key, label in FORMAT_LABELS.items():
            box = QCheckBox(label)
            box.setChecked(True)
            box.toggled.connect(self.completeChanged)
            formats_layout.addWidget(box)
            self.formats[key] = box
        layout.addWidget(formats)
        self.include_accepted = QCheckBox(
            "Include decisions reviewers accepted as correct (fine-tuning files)")
        self.exclude_suite = QCheckBox(
            "Exclude situations of the evaluation suite (they would teach the test)")
        self.exclude_suite.setChecked(True)
        self.replace_existing = QCheckBox("Replace the folder if it already holds files")
        for box in (self.include_accepted, self.exclude_suite, self.replace_existing):
            layout.addWidget(box)
        layout.addStretch(1)
        self.folder.textChanged.connect(self.completeChanged)

    def _default_folder(self) -> str:
        """A new dated folder beside the last export: a second export never collides."""
        remembered = self._settings.export_folder
        base = Path(remembered).expanduser().parent if remembered else (
            Path.home() / "policy-desktop-exports")
        name = f"training_export_{date.today()}"
        candidate, number = base / name, 2
        while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
            candidate, number = base / f"{name}_{number}", number + 1
        return str(candidate)

    def _browse(self) -> None:
        start = str(Path(self.folder.text()).parent)
        chosen = existing_directory(self, "Export into folder", start)
        if chosen:
            self.folder.setText(chosen)

    def isComplete(self) -> bool:
        return bool(self.folder.text().strip()) and any(
            box.isChecked() for box in self.formats.values())

    def validatePage(self) -> bool:
        target = Path(self.folder.text().strip()).expanduser()
        if target.exists() and (not target.is_dir() or any(target.iterdir())) \
                and not self.replace_existing.isChecked():
            QMessageBox.warning(
                self, "Folder not empty",
                f"{target} already holds files. Choose another folder, or tick "
                f"\"Replace the folder if it already holds files\".")
            return False
        self._settings.export_folder = str(target)
        self._settings.context_size = self.context_size.value()
        return True

    def options(self) -> ExportOptions:
        """The choices as the export package's options."""
        return ExportOptions(
            fewshot_count=self.fewshot_count.value(),
            context_size=self.context_size.value(),
            excluded_examples=frozenset(self.excluded),
            include_accepted=self.include_accepted.isChecked(),
            allow_suite_examples=not self.exclude_suite.isChecked(),
            force=self.replace_existing.isChecked(),
            formats=frozenset(key for key, box in self.formats.items() if box.isChecked()),
        )

    def target(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()


class PreviewPage(QWizardPage):
    """The selected examples, their balance over decision types, and each file's lines."""

    def __init__(self, controller: ExportController) -> None:
        super().__init__()
        self.setTitle("Preview")
        self.setSubTitle("Nothing is written yet. Finish writes these files.")
        self.setCommitPage(True)
        self._controller = controller
        self.preview: ExportPreview | None = None
        self.budget: TokenBudget | None = None
        layout = QVBoxLayout(self)
        self.status = _plain_label("Selecting examples…")
        self.budget_label = _plain_label()
        self.budget_label.setObjectName("tokenBudget")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.balance = _plain_label()
        self.files = QTableWidget(0, 3)
        self.files.setHorizontalHeaderLabels(("File", "Records", "Contents"))
        self.files.verticalHeader().setVisible(False)
        self.files.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.files.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.files.setMaximumHeight(150)
        self.example_list = QListWidget()
        self.example_list.setObjectName("exampleList")
        self.example_list.setMaximumHeight(150)
        self.example_list.currentRowChanged.connect(self._show_example)
        self.exclude_button = QPushButton("Leave this example out (another is chosen)")
        self.exclude_button.setObjectName("excludeExample")
        self.exclude_button.setEnabled(False)
        self.exclude_button.clicked.connect(self.exclude_selected)
        self.restore_button = QPushButton("Put the left-out examples back")
        self.restore_button.setObjectName("restoreExamples")
        self.restore_button.setVisible(False)
        self.restore_button.clicked.connect(self.restore_excluded)
        example_buttons = QHBoxLayout()
        example_buttons.addWidget(self.exclude_button)
        example_buttons.addWidget(self.restore_button)
        example_buttons.addStretch(1)
        self.examples = QPlainTextEdit()
        self.examples.setReadOnly(True)
        self.examples.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.examples.setPlaceholderText("The selected few-shot examples appear here.")
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addWidget(self.balance)
        layout.addWidget(self.budget_label)
        layout.addWidget(self.files)
        layout.addWidget(_plain_label("Few-shot examples (select one to read it alone):"))
        layout.addWidget(self.example_list)
        layout.addLayout(example_buttons)
        layout.addWidget(self.examples, 1)
        controller.worker.budget_ready.connect(self._set_budget)
        controller.worker.preview_ready.connect(self._show)
        controller.worker.progress.connect(self._progress)

    def initializePage(self) -> None:
        wizard = self.wizard()
        assert isinstance(wizard, ExportWizard)
        self.preview = None
        self.budget = None
        self.budget_label.setText("")
        self.example_list.clear()
        self.exclude_button.setEnabled(False)
        excluded = len(wizard.options_page.excluded)
        self.restore_button.setVisible(excluded > 0)
        self.restore_button.setText(f"Put the {excluded} left-out example"
                                    f"{'s' if excluded != 1 else ''} back")
        self.busy.show()
        self.status.setText("Selecting examples (loading the embedding model the first time)…")
        self.examples.clear()
        self.files.setRowCount(0)
        self.balance.setText("")
        self.completeChanged.emit()
        self._controller.preview(wizard.options_page.options())

    def _progress(self, stage: str, _fraction: float) -> None:
        if self.preview is None and self.isVisible():
            self.status.setText(f"{stage}…")

    def _set_budget(self, budget: TokenBudget | None) -> None:
        self.budget = budget

    def _show(self, preview: ExportPreview) -> None:
        self.preview = preview
        budget = self.budget
        if budget is not None:
            outliers = (f" {budget.outliers_skipped} far longer than a typical example left "
                        "out." if budget.outliers_skipped else "")
            self.budget_label.setText(budget.describe() + outliers)
        self.example_list.clear()
        for number, example in enumerate(preview.fewshot):
            situation = example.situation
            who = " ".join(str(situation.get(key, "")) for key in ("actor", "action", "target"))
            tokens = (f" · {budget.example_tokens[number]:,} tokens"
                      if budget is not None and number < len(budget.example_tokens) else "")
            text = f"{number + 1}. {example.decision} · {' '.join(who.split())[:80]}{tokens}"
            item = QListWidgetItem(text)
            if number < len(preview.fewshot_ids):
                item.setData(Qt.ItemDataRole.UserRole, preview.fewshot_ids[number])
            self.example_list.addItem(item)
        self.busy.hide()
        self.status.setText(
            f"{preview.corrections} corrections; {preview.fewshot_candidates} usable as "
            f"few-shot examples; {preview.suite_examples_excluded} excluded as suite "
            f"situations, {preview.empty_reasonings_excluded} for an empty reasoning.")
        if preview.fewshot:
            balance = ", ".join(f"{name} {preview.fewshot_per_type.get(name, 0)}"
                                for name in DECISIONS)
            skipped = preview.near_duplicates_skipped or 0
            self.balance.setText(f"Balance of the {len(preview.fewshot)} examples: {balance}. "
                                 f"Near-duplicates skipped: {skipped}.")
        self.examples.setPlainText("\n\n".join(format_example(e) for e in preview.fewshot))
        self.files.setRowCount(0)
        for key, count in preview.lines.items():
            name = FORMAT_FILES.get(key, key)
            row = self.files.rowCount()
            self.files.insertRow(row)
            for column, text in enumerate((name, f"{count:,}", FILE_DESCRIPTIONS.get(name, ""))):
                self.files.setItem(row, column, QTableWidgetItem(text))
        self.files.resizeColumnsToContents()
        self.completeChanged.emit()

    def _show_example(self, row: int) -> None:
        preview = self.preview
        self.exclude_button.setEnabled(preview is not None and row >= 0)
        if preview is not None and 0 <= row < len(preview.fewshot):
            self.examples.setPlainText(format_example(preview.fewshot[row]))

    def exclude_selected(self) -> None:
        """Leave the selected example out; the preview is computed again with a replacement."""
        item = self.example_list.currentItem()
        decision_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not decision_id:
            return
        wizard = self.wizard()
        assert isinstance(wizard, ExportWizard)
        wizard.options_page.excluded.add(str(decision_id))
        self.initializePage()

    def restore_excluded(self) -> None:
        """Forget every left-out example and compute the preview again."""
        wizard = self.wizard()
        assert isinstance(wizard, ExportWizard)
        wizard.options_page.excluded.clear()
        self.initializePage()

    def isComplete(self) -> bool:
        return self.preview is not None


class ResultPage(QWizardPage):
    """Runs the export with progress; then the files, Open folder, and closing the loop."""

    prompt_version_created = Signal(str)

    def __init__(self, controller: ExportController, catalog: PromptCatalog) -> None:
        super().__init__()
        self.setTitle("Export")
        self.setSubTitle("The files are written in the background; then close the loop: a new "
                         "prompt version from the examples, measured by a run.")
        self._controller = controller
        self._catalog = catalog
        self.result: ExportResult | None = None
        self.created_version: str | None = None
        layout = QVBoxLayout(self)
        self.status = _plain_label("Writing…")
        self.loop_status = _plain_label("")
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.files = QTableWidget(0, 2)
        self.files.setHorizontalHeaderLabels(("File", "Size"))
        self.files.verticalHeader().setVisible(False)
        self.files.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QHBoxLayout()
        self.open_folder = QPushButton("Open folder")
        self.create_prompt = QPushButton("Create prompt version from these examples…")
        self.run_suite = QPushButton("Run the suite with it")
        self.replay = QPushButton("Replay the last 500 reviewed decisions with it")
        self.replay.setObjectName("replayWithIt")
        self.replay.setToolTip("Re-decide the newest 500 reviewed decisions with the new "
                               "prompt version: what would flip, and who is right")
        self.finetune = QPushButton("Fine-tune the model with these corrections…")
        self.finetune.setToolTip("Train a LoRA adapter on the exported chat dataset (minutes "
                                 "to half an hour here), in a background process")
        # Two rows: the files, then what to do with the new prompt version or corrections
        # (five buttons in one row would make the wizard wider than a small screen).
        next_steps = QHBoxLayout()
        for row, row_buttons in ((buttons, (self.open_folder, self.create_prompt)),
                                 (next_steps, (self.run_suite, self.replay, self.finetune))):
            for button in row_buttons:
                button.setEnabled(False)
                row.addWidget(button)
            row.addStretch(1)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        self.files.setMinimumHeight(120)
        layout.addWidget(self.files, 1)
        layout.addLayout(buttons)
        layout.addLayout(next_steps)
        self.loop_status.setMinimumHeight(self.loop_status.fontMetrics().lineSpacing() * 2 + 4)
        layout.addWidget(self.loop_status)
        self.open_folder.clicked.connect(self._open_folder)
        self.create_prompt.clicked.connect(self.ask_and_create_prompt_version)
        worker = controller.worker
        worker.progress.connect(self._progress)
        worker.finished.connect(self._done)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(self._cancelled)  # a method, not a lambda: runs on this thread

    def initializePage(self) -> None:
        wizard = self.wizard()
        assert isinstance(wizard, ExportWizard)
        self.result = None
        self.bar.setValue(0)
        self.status.setText("Writing the export…")
        self._controller.export(wizard.options_page.target(), wizard.options_page.options())

    def _progress(self, stage: str, fraction: float) -> None:
        if self.result is None and self.isVisible():
            self.status.setText(f"{stage}…")
            self.bar.setValue(round(fraction * 100))

    def _done(self, result: ExportResult) -> None:
        self.result = result
        self.bar.setValue(100)
        self.status.setText(f"Exported to {result.output_dir}")
        self.files.setRowCount(0)
        for path in sorted(result.output_dir.iterdir()):
            row = self.files.rowCount()
            self.files.insertRow(row)
            self.files.setItem(row, 0, QTableWidgetItem(path.name))
            size = QTableWidgetItem(_human_size(path.stat().st_size))
            size.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.files.setItem(row, 1, size)
        self.files.resizeColumnsToContents()
        self.open_folder.setEnabled(True)
        self.create_prompt.setEnabled((result.output_dir / FEWSHOT_FILE).exists())
        self.finetune.setEnabled(True)
        self.completeChanged.emit()

    def _cancelled(self) -> None:
        self._failed("The export was cancelled.")

    def _failed(self, message: str) -> None:
        self.status.setText(f"Nothing was written: {message}")
        self.bar.setValue(0)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.result is not None or self.status.text().startswith("Nothing was written")

    def _open_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.output_dir)))

    def suggested_name(self) -> str:
        base = f"v3_reviewed_{date.today():%Y%m%d}"
        name, number = base, 2
        while name in self._catalog.names():
            name, number = f"{base}_{number}", number + 1
        return name

    def ask_and_create_prompt_version(self) -> None:
        name, ok = QInputDialog.getText(self, "New prompt version",
                                        "Name of the new prompt version:",
                                        text=self.suggested_name())
        if ok and name.strip():
            self.create_prompt_version(name.strip())

    def create_prompt_version(self, name: str) -> bool:
        """Create ``name`` from the exported examples; True when it was created."""
        assert self.result is not None
        try:
            version = self._catalog.create(
                name, self.result.output_dir / FEWSHOT_FILE,
                description=f"Few-shot examples from reviewed corrections ({date.today()})")
        except PromptError as problem:
            QMessageBox.warning(self, "Could not create the prompt version", str(problem))
            return False
        self.created_version = version.name
        self.loop_status.setText(f"Created prompt version {version.name} with "
                                 f"{len(version.examples)} examples. Next: run the suite with "
                                 f"it and compare the run with the previous one, or replay "
                                 f"the newest reviewed decisions with it.")
        self.run_suite.setEnabled(True)
        self.replay.setEnabled(True)
        self.prompt_version_created.emit(version.name)
        return True


class ExportWizard(QWizard):
    """Readiness → options → preview → export; the one-click path to training data.

    Signals:
        run_suite_requested(prompt_version): "Run the suite with it" was clicked.
        replay_requested(prompt_version): "Replay the last 500 reviewed decisions with it".
        finetune_requested(export_dir): "Fine-tune the model with these corrections".
    """

    run_suite_requested = Signal(str)
    replay_requested = Signal(str)
    finetune_requested = Signal(object)

    def __init__(self, database: str, corrections: int, settings: Settings,
                 catalog: PromptCatalog | None = None, parent: QWidget | None = None, *,
                 embed: EmbedFn | None = None, count_tokens: TokenCounter | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export training data")
        self.setObjectName("exportWizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Finish")
        self.setButtonText(QWizard.WizardButton.FinishButton, "Close")
        self.controller = ExportController(database, self, embed=embed,
                                           count_tokens=count_tokens,
                                           model_path=settings.model_path)
        catalog = catalog or PromptCatalog()
        self.readiness_page = ReadinessPage(corrections)
        self.options_page = OptionsPage(settings)
        self.preview_page = PreviewPage(self.controller)
        self.result_page = ResultPage(self.controller, catalog)
        for page_id, page in ((PageId.READINESS, self.readiness_page),
                              (PageId.OPTIONS, self.options_page),
                              (PageId.PREVIEW, self.preview_page),
                              (PageId.RESULT, self.result_page)):
            self.setPage(page_id, page)
        self.result_page.run_suite.clicked.connect(self._run_suite)
        self.result_page.replay.clicked.connect(self._replay)
        self.result_page.finetune.clicked.connect(self._finetune)
        self.resize(760, 600)

    def _run_suite(self) -> None:
        """Close first, then ask for the run: the run dialog must not open behind the wizard."""
        version = self.result_page.created_version
        if version:
            self.accept()
            QTimer.singleShot(0, lambda: self.run_suite_requested.emit(version))

    def _replay(self) -> None:
        """Close first, then ask for the replay with the new prompt version."""
        version = self.result_page.created_version
        if version:
            self.accept()
            QTimer.singleShot(0, lambda: self.replay_requested.emit(version))

    def _finetune(self) -> None:
        """Close first, then open the training dialog on the export just written."""
        result = self.result_page.result
        if result is not None:
            folder = result.output_dir
            self.accept()
            QTimer.singleShot(0, lambda: self.finetune_requested.emit(folder))

    def done(self, result: int) -> None:
        self.controller.shutdown()
        super().done(result)
