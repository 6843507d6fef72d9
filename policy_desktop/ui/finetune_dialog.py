"""*Fine-tune the model with these corrections*: a dialog that trains a LoRA adapter on the
reviewed decisions in the background and registers it as a new model version.

Construct it with the database (and optionally an export folder, a base GGUF and default
settings); *Start* trains, *Cancel* stops after the current step (a later *Start* with the
same name and settings resumes), closing while training cancels first.

Once a model is registered the dialog offers the comparison that matters: *Compare with the
old model* decides the held-out reviewed decisions (never trained on) again with the old
model and the tuned one and shows old vs new accuracy per decision with McNemar's exact
test and a 95 % interval; *Run the suite with the tuned model* asks the window to run the
full scenario suite with it (``suiteRequested``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.finetune.settings import TrainSettings
from policy_desktop.ui.finetune_worker import FinetuneController, FinetuneOrder


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # names and messages may come from the log
    label.setWordWrap(True)
    return label


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _maybe_percent(value: float | None) -> str:
    return "–" if value is None else _percent(value)


def _duration(seconds: float) -> str:
    if seconds < 0:
        return "estimating…"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"~{minutes} min {secs:02d} s left" if minutes else f"~{secs} s left"


class FinetuneDialog(QDialog):
    """Train, watch and cancel a fine-tuning; see the module docstring.

    Signals:
        modelRegistered(name): a new model version is registered.
        suiteRequested(name): run the full scenario suite with that model.
    """

    modelRegistered = Signal(str)
    suiteRequested = Signal(str)

    def __init__(self, database: str, *, base_model: Path | None = None,
                 export_dir: Path | None = None, settings: TrainSettings | None = None,
                 default_name: str = "tuned-v1", compare_prompt: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the model with these corrections")
        self._database = database
        self._base_model = base_model
        self._export_dir = export_dir
        self._settings = settings or TrainSettings()
        self._compare_prompt = compare_prompt
        self._running = False
        self._comparing = False
        self._model_name: str | None = None
        self._close_when_done = False
        self.before: float | None = None
        self.controller = FinetuneController(self)
        worker = self.controller.finetune_worker
        worker.status.connect(self._status)
        worker.dataReady.connect(self._data)
        worker.progress.connect(self._progress)
        worker.validated.connect(self._validated)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.compareProgress.connect(self._compare_progress)
        worker.compared.connect(self._compared)
        worker.compareFailed.connect(self._compare_failed)

        self.name_edit = QLineEdit(default_name)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setValue(self._settings.epochs)
        form = QFormLayout()
        form.addRow("Model name", self.name_edit)
        form.addRow("Epochs (at most)", self.epochs)
        base = str(base_model) if base_model else "the bundled Gemma 3 270M"
        self.data_label = _plain(f"Base model: {base}. Training data: the reviewed corrections "
                                 "(suite situations left out), 20 % of each decision held out.")
        self.status_label = _plain("Ready.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.step_label = _plain("")
        self.validation_label = _plain("")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.compare_button = QPushButton("Compare with the old model")
        self.compare_button.setToolTip(
            "Decide the held-out reviewed decisions (never trained on) again with the old "
            "model and the tuned one; McNemar's exact test on the pairs")
        self.suite_button = QPushButton("Run the suite with the tuned model")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.compare_button.clicked.connect(self.compare)
        self.suite_button.clicked.connect(self._request_suite)
        self.name_edit.textChanged.connect(self._update_buttons)

        self.comparison_label = _plain("")
        self.comparison_table = QTableWidget(0, 5)
        self.comparison_table.setHorizontalHeaderLabels(
            ["Reviewed decision", "Cases", "Old model", "Tuned model", "McNemar p"])
        self.comparison_table.verticalHeader().setVisible(False)
        self.comparison_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        self.comparison_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.comparison_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.comparison_table.setVisible(False)
        after = QDialogButtonBox()
        after.addButton(self.compare_button, QDialogButtonBox.ButtonRole.ActionRole)
        after.addButton(self.suite_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.data_label, self.status_label, self.progress_bar, self.step_label,
                       self.validation_label, after, self.comparison_label,
                       self.comparison_table):
            layout.addWidget(widget)
        layout.addWidget(buttons)
        self.resize(640, 320)
        self._update_buttons()  # a button box shows what it is given

    @property
    def running(self) -> bool:
        """Whether a training or a comparison is under way."""
        return self._running or self._comparing

    def start(self) -> None:
        """Start (or resume) training with the name and epochs shown."""
        name = self.name_edit.text().strip()
        if self.running or not name:
            return
        settings = TrainSettings.from_dict({**self._settings.to_dict(),
                                            "epochs": self.epochs.value()})
        self._running = True
        self._model_name = None
        self.before = None
        self.validation_label.setText("")
        self.comparison_label.setText("")
        self.comparison_table.setVisible(False)
        self.step_label.setText("")
        self._update_buttons()
        self.status_label.setText("Starting…")
        self.controller.train(FinetuneOrder(database=self._database, base_model=self._base_model,
                                            name=name, settings=settings,
                                            export_dir=self._export_dir))

    def cancel(self) -> None:
        """Stop after the current step (the checkpoint stays for a resume), or stop the
        comparison after the current decision."""
        if self.running:
            self.controller.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling after the current step…" if self._running
                                      else "Cancelling the comparison…")

    def compare(self) -> None:
        """Decide the new model's held-out reviews with the old and the tuned model."""
        if self.running or self._model_name is None:
            return
        self._comparing = True
        self._update_buttons()
        self.comparison_table.setVisible(False)
        self.comparison_label.setText("")
        self.status_label.setText("Starting the comparison…")
        self.controller.compare(self._model_name, self._compare_prompt)

    def _request_suite(self) -> None:
        if self._model_name is not None:
            self.suiteRequested.emit(self._model_name)

    def _update_buttons(self) -> None:
        idle = not self.running
        self.start_button.setEnabled(idle and bool(self.name_edit.text().strip()))
        self.cancel_button.setEnabled(not idle)
        self.name_edit.setEnabled(idle)
        self.epochs.setEnabled(idle)
        name = self._model_name
        trained = name is not None
        held = self.controller.finetune_worker.held_out_count(name) if name is not None else 0
        self.compare_button.setVisible(trained)
        self.compare_button.setEnabled(idle and held > 0)
        self.compare_button.setText(f"Compare with the old model on {held} held-out reviews"
                                    if trained else "Compare with the old model")
        self.suite_button.setVisible(trained)
        self.suite_button.setEnabled(idle)

    def _status(self, text: str) -> None:
        self.status_label.setText(text)

    def _data(self, examples: int, per_decision: dict[str, int]) -> None:
        counts = ", ".join(f"{label} {count}" for label, count in per_decision.items())
        self.data_label.setText(f"Training data: {examples} reviewed decisions ({counts}).")

    def _progress(self, step: int, total: int, loss: float, seconds_left: float) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.status_label.setText("Training…")
        self.step_label.setText(f"Step {step} of {total} · loss {loss:.4f} · "
                                f"{_duration(seconds_left)}")

    def _validated(self, step: int, loss: float, accuracy: float, improved: bool) -> None:
        if self.before is None:
            self.before = accuracy
        best = " (best so far)" if improved and step > 0 else ""
        self.validation_label.setText(
            f"Validation decision accuracy: before {_percent(self.before)} · "
            f"at step {step} {_percent(accuracy)}{best} · loss {loss:.4f}")

    def _finished(self, outcome: Any, model: Any) -> None:
        self._running = False
        self._model_name = model.name if model is not None else None
        self._update_buttons()
        if model is None:
            self.status_label.setText(f"Cancelled at step {outcome.steps} of "
                                      f"{outcome.total_steps}. Start again to resume.")
        else:
            before, after = outcome.before, outcome.after
            figures = ""
            if before is not None and after is not None:
                figures = (f": validation accuracy {_percent(before.accuracy)} → "
                           f"{_percent(after.accuracy)}")
            early = " (stopped early)" if outcome.status == "stopped_early" else ""
            self.status_label.setText(f"Registered {model.name}{figures}{early}.")
            self.modelRegistered.emit(model.name)
        if self._close_when_done:
            self.reject()

    def _compare_progress(self, label: str, done: int, total: int) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.status_label.setText(f"Comparing: {label}, {done} of {total} decided")

    def _compared(self, comparison: Any) -> None:
        from policy_desktop.finetune.comparison import describe

        self._comparing = False
        self._update_buttons()
        overall = comparison.paired()
        self.status_label.setText("Comparison done (saved with the model).")
        self.comparison_label.setText("\n".join(describe(comparison)[:2]))
        rows = [("All", overall), *comparison.per_decision().items()]
        self.comparison_table.setRowCount(len(rows))
        for row, (label, value) in enumerate(rows):
            cells = [label, str(value.n), _maybe_percent(value.accuracy_a),
                     _maybe_percent(value.accuracy_b), f"{value.p_value:.3g}"]
            for column, text in enumerate(cells):
                self.comparison_table.setItem(row, column, QTableWidgetItem(text))
        table = self.comparison_table
        table.resizeRowsToContents()
        table.setFixedHeight(table.horizontalHeader().height() + 2 * table.frameWidth()
                             + sum(table.rowHeight(r) for r in range(table.rowCount())))
        table.setVisible(True)
        self.resize(max(self.width(), 640), max(self.height(), self.sizeHint().height()))
        self._close_if_asked()

    def _compare_failed(self, message: str) -> None:
        self._comparing = False
        self._update_buttons()
        self.status_label.setText(message)
        self._close_if_asked()

    def _close_if_asked(self) -> None:
        if self._close_when_done:
            self.reject()

    def _failed(self, message: str) -> None:
        self._running = False
        self._update_buttons()
        self.status_label.setText(f"Fine-tuning failed: {message}")
        if self._close_when_done:
            self.reject()

    def _defer_close(self) -> bool:
        """Mid-training or comparison, cancel and close once the child has stopped; True if
        deferred."""
        if not self.running:
            return False
        self._close_when_done = True
        self.cancel()
        return True

    def reject(self) -> None:
        """Close (Escape, the Close button), cancelling a training first."""
        if self._defer_close():
            return
        self.controller.shutdown()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window's close button: as :meth:`reject`."""
        if self._defer_close():
            event.ignore()
            return
        self.controller.shutdown()
        super().closeEvent(event)
