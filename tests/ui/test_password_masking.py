"""A database URL's password never reaches the screen (issue: a failed open showed it)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QMessageBox
from pytestqt.qtbot import QtBot

SECRET = "policy-pw-123"
URL = f"postgresql://policy:{SECRET}@127.0.0.1:1/nowhere"  # nothing listens on port 1


def test_a_failed_open_of_a_postgresql_url_never_shows_its_password(
        qtbot: QtBot, make_window: Any) -> None:
    window = make_window(URL, wait=False)
    qtbot.waitUntil(lambda: bool(window.findChildren(QMessageBox)), timeout=30_000)
    texts = [box.text() for box in window.findChildren(QMessageBox)]
    texts += [label.text() for label in window.findChildren(QLabel)]
    texts += [window.windowTitle(), window.statusBar().currentMessage()]
    assert any("policy:***@127.0.0.1" in text for text in texts), texts
    assert not [text for text in texts if SECRET in text]
