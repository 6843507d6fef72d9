"""Edit → Preferences: the reviewer, the database, the local model and the look."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.ui.file_dialogs import open_file_name, save_file_name
from policy_desktop.ui.settings import CONTEXT_SIZES, THEMES, Settings


def _with_browse(edit: QLineEdit, browse: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row


class PreferencesDialog(QDialog):
    """A form over :class:`Settings`; OK writes every field back.

    Args:
        settings: the settings to edit.
        parent: the owning window.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._settings = settings

        self.reviewer = QLineEdit(settings.reviewer)
        self.reviewer.setObjectName("reviewerName")
        self.reviewer.setPlaceholderText("asked at your first review")
        self.blind_review = QCheckBox("Blind review: choose a decision before seeing the model's")
        self.blind_review.setObjectName("blindReview")
        self.blind_review.setChecked(settings.blind_review)
        self.theme = QComboBox()
        self.theme.setObjectName("theme")
        for name in THEMES:
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(self.theme.findData(settings.theme))

        self.database = QLineEdit(settings.database or "")
        self.database.setObjectName("databasePath")
        self.database.setPlaceholderText("the default database")
        database_browse = QPushButton("Browse…")
        database_browse.clicked.connect(self._browse_database)
        self.model_path = QLineEdit(settings.model_path or "")
        self.model_path.setObjectName("modelPath")
        self.model_path.setPlaceholderText("the bundled model")
        model_browse = QPushButton("Browse…")
        model_browse.clicked.connect(self._browse_model)
        self.threads = QSpinBox()
        self.threads.setObjectName("threads")
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setObjectName("gpuLayers")
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("all")
        self.gpu_layers.setValue(settings.gpu_layers)
        self.context_size = QSpinBox()
        self.context_size.setObjectName("contextSize")
        self.context_size.setRange(*CONTEXT_SIZES)
        self.context_size.setSingleStep(1024)
        self.context_size.setSuffix(" tokens")
        self.context_size.setGroupSeparatorShown(True)
        self.context_size.setValue(settings.context_size)
        self.context_size.setToolTip("llama.cpp's context (n_ctx): the prompt and the answer must "
                                     "fit; exported few-shot examples are chosen to fit it")
        self.coverage = QDoubleSpinBox()
        self.coverage.setObjectName("coverageThreshold")
        self.coverage.setRange(0.0, 1.0)
        self.coverage.setSingleStep(0.05)
        self.coverage.setDecimals(2)
        self.coverage.setValue(settings.coverage_threshold)

        review = QGroupBox("Review")
        review_form = QFormLayout(review)
        review_form.addRow("Reviewer name:", self.reviewer)
        review_form.addRow("", self.blind_review)
        review_form.addRow("Theme:", self.theme)
        data = QGroupBox("Database and model")
        data_form = QFormLayout(data)
        data_form.addRow("Database at start:", _with_browse(self.database, database_browse))
        data_form.addRow("Model file (GGUF):", _with_browse(self.model_path, model_browse))
        data_form.addRow("CPU threads:", self.threads)
        data_form.addRow("GPU layers:", self.gpu_layers)
        data_form.addRow("Context size:", self.context_size)
        data_form.addRow("Coverage to pass:", self.coverage)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(review)
        layout.addWidget(data)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse_database(self) -> None:
        name = save_file_name(
            self, "Database at start", self.database.text(), "SQLite databases (*.db);;All (*)",
            confirm_overwrite=False)
        if name:
            self.database.setText(name)

    def _browse_model(self) -> None:
        name = open_file_name(
            self, "Model file", self.model_path.text(), "GGUF models (*.gguf);;All files (*)")
        if name:
            self.model_path.setText(name)

    def save(self) -> None:
        """Write every field to the settings."""
        settings = self._settings
        settings.reviewer = self.reviewer.text()
        settings.blind_review = self.blind_review.isChecked()
        settings.theme = str(self.theme.currentData())
        settings.database = self.database.text()
        settings.model_path = self.model_path.text()
        settings.threads = self.threads.value()
        settings.gpu_layers = self.gpu_layers.value()
        settings.context_size = self.context_size.value()
        settings.coverage_threshold = self.coverage.value()
        settings.sync()

    def accept(self) -> None:
        self.save()
        super().accept()
