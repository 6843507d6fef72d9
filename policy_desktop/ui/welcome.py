"""Empty states: the welcome panel (empty or no database) and the empty-view message."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from policy_desktop.ui.theme import app_icon

TEXT_WIDTH = 440


def _set_wrapped(label: QLabel, text: str) -> None:
    """Set a wrapped label's text and reserve its height (layouts with alignment do not)."""
    label.setText(text)
    label.setMinimumHeight(label.heightForWidth(TEXT_WIDTH))


def _label(name: str, text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


class WelcomePanel(QWidget):
    """Shown instead of the table when the database is empty or none is open.

    Signals:
        run_quick_suite_requested(): "Run quick suite" was clicked.
        import_requested(): "Import log…" was clicked.
        open_requested(): "Open database…" was clicked.
        new_requested(): "New database…" was clicked.
    """

    run_quick_suite_requested = Signal()
    import_requested = Signal()
    open_requested = Signal()
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.icon.setPixmap(app_icon().pixmap(QSize(72, 72)))
        self.title = _label("welcomeTitle")
        self.text = _label("welcomeText")
        self.text.setFixedWidth(TEXT_WIDTH)
        self.database = _label("welcomeDatabase")
        self.database.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.run_button = QPushButton("Run quick suite")
        self.run_button.setObjectName("primaryButton")
        self.run_button.setToolTip("Run the quick scenario set on the local model and log "
                                   "every decision")
        self.import_button = QPushButton("Import log…")
        self.import_button.setObjectName("importButton")
        self.import_button.setToolTip("Import decisions from a JSONL file")
        self.open_button = QPushButton("Open database…")
        self.open_button.setObjectName("openButton")
        self.new_button = QPushButton("New database…")
        self.new_button.setObjectName("newButton")
        for button in (self.run_button, self.import_button, self.open_button, self.new_button):
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            button.setMinimumHeight(32)
        self.run_button.clicked.connect(self.run_quick_suite_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.new_button.clicked.connect(self.new_requested)

        buttons = QHBoxLayout()
        buttons.setSpacing(10)
        buttons.addStretch(1)
        for button in (self.run_button, self.import_button, self.open_button, self.new_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.setSpacing(10)
        layout.addStretch(2)
        layout.addWidget(self.icon)
        layout.addSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(10)
        layout.addLayout(buttons)
        layout.addSpacing(6)
        layout.addWidget(self.database)
        layout.addStretch(3)
        self.show_empty_database("")

    def show_empty_database(self, database: str) -> None:
        """The database has no decisions yet: offer a run or an import."""
        self.title.setText("No decisions yet")
        _set_wrapped(self.text, "This database holds no policy decisions. Run the quick "
                                "scenario suite on the local model, or import a decision log "
                                "(JSONL).")
        self.database.setText(database)
        self.database.setVisible(bool(database))
        for button, visible in ((self.run_button, True), (self.import_button, True),
                                (self.open_button, False), (self.new_button, False)):
            button.setVisible(visible)

    def show_no_database(self, reason: str) -> None:
        """No database could be opened: offer to open or create one."""
        self.title.setText("No database open")
        _set_wrapped(self.text, reason or "Open a decision database, or create a new one.")
        self.database.setVisible(False)
        for button, visible in ((self.run_button, False), (self.import_button, False),
                                (self.open_button, True), (self.new_button, True)):
            button.setVisible(visible)


class EmptyViewMessage(QWidget):
    """Shown instead of the table when a non-empty database has nothing in this view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyView")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = _label("welcomeTitle")
        self.text = _label("emptyViewText")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.icon)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addStretch(3)

    def show_message(self, title: str, text: str, icon: QIcon | None = None) -> None:
        """Show ``title`` and ``text`` (plain), with an optional icon above."""
        self.title.setText(title)
        self.text.setText(text)
        self.icon.setVisible(icon is not None)
        if icon is not None:
            self.icon.setPixmap(icon.pixmap(QSize(40, 40)))
