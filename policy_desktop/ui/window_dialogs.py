"""A window's non-modal dialogs kept alive while open, plain-text message boxes, and the
one question every review needs answered first (the reviewer's name)."""

from __future__ import annotations

import os
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox, QWidget

from policy_desktop.ui.settings import Settings

W = TypeVar("W", bound=QWidget)


def reviewer_name(parent: QWidget, settings: Settings) -> str:
    """The reviewer's name; asked for (and remembered) when not set yet ("" if refused)."""
    if not settings.reviewer:
        name, ok = QInputDialog.getText(
            parent, "Your name", "Your name is recorded with each review:",
            text=os.environ.get("USER", ""))
        if ok and name.strip():
            settings.reviewer = name.strip()
            settings.sync()
    return settings.reviewer


class WindowDialogs:
    """The dialogs a window has open (:attr:`open`), each deleted when it closes.

    Args:
        window: the dialogs' parent.
    """

    def __init__(self, window: QWidget) -> None:
        self._window = window
        self.open: list[QWidget] = []

    def keep(self, dialog: W) -> W:
        """Hold ``dialog`` until it is finished (a non-modal dialog has no other owner)."""
        self.open.append(dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def forget(*_args: object) -> None:
            if dialog in self.open:
                self.open.remove(dialog)

        if isinstance(dialog, QDialog):
            dialog.finished.connect(forget)
        return dialog

    def message(self, icon: QMessageBox.Icon, title: str, text: str,
                details: str = "") -> QMessageBox:
        """A window-modal message box that does not block (``open``, not ``exec``).

        Everything goes into the plain-text main label: the informative text of a
        QMessageBox would guess rich text, and details may quote file names or data.
        """
        body = f"{text}\n\n{details}" if details else text
        box = QMessageBox(icon, title, body, QMessageBox.StandardButton.Ok, self._window)
        box.setTextFormat(Qt.TextFormat.PlainText)
        self.keep(box).open()
        return box
