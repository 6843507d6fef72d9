"""Runs → Prompt versions…: read what a prompt version tells the model, as the runner builds it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.engine.prompts import PromptCatalog, PromptError, build_system, load_policy
from policy_desktop.export.token_budget import approximate_tokens


class PromptViewer(QDialog):
    """Pick a prompt version and read its whole system prompt (policy, instructions, examples).

    Args:
        catalog: the prompt versions (default: the builtin and the user's).
        parent: the owning window.
    """

    def __init__(self, catalog: PromptCatalog | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptViewer")
        self.setWindowTitle("Prompt versions")
        self._catalog = catalog or PromptCatalog()
        self.versions = QComboBox()
        self.versions.setObjectName("promptVersions")
        self.about = QLabel()
        self.about.setObjectName("promptAbout")
        self.about.setTextFormat(Qt.TextFormat.PlainText)
        self.about.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setObjectName("promptText")
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        form = QFormLayout()
        form.addRow("Prompt version:", self.versions)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.about)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.versions.currentTextChanged.connect(self.show_version)
        self.versions.addItems(self._catalog.names())
        self.resize(860, 680)

    def show_version(self, name: str) -> None:
        """Show ``name``'s system prompt as a run sends it."""
        if not name:
            return
        try:
            version = self._catalog.get(name)
            text = build_system(version, load_policy())
        except PromptError as problem:
            self.about.setText(f"Cannot read {name}: {problem}")
            self.text.clear()
            return
        kind = "builtin" if version.builtin else f"yours, in {version.folder}"
        base = f"; made from {version.base}" if version.base else ""
        self.about.setText(f"{version.description or name} ({kind}{base}). "
                           f"{len(version.examples)} examples; about "
                           f"{approximate_tokens(text):,} tokens at most.")
        self.text.setPlainText(text)
