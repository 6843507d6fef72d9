"""Settings: typed values in an INI file under the XDG config folder; the preferences dialog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from window_helpers import fill, wait_idle

from policy_desktop.ui.preferences_dialog import PreferencesDialog
from policy_desktop.ui.settings import Settings
from policy_desktop.ui.theme import DARK, LIGHT, Theme


def test_settings_round_trip_through_the_ini_file() -> None:
    settings = Settings()
    assert settings.path.parent == Path(os.environ["XDG_CONFIG_HOME"]) / "policy-desktop"
    assert (settings.reviewer, settings.database, settings.model_path) == ("", None, None)
    assert (settings.threads, settings.gpu_layers, settings.coverage_threshold) == (0, -1, 0.5)
    assert (settings.blind_review, settings.theme) == (False, "light")
    settings.reviewer = "  Sam "
    settings.database = "/data/decisions.db"
    settings.model_path = "/models/gemma.gguf"
    settings.threads = 6
    settings.gpu_layers = 20
    settings.coverage_threshold = 0.65
    settings.blind_review = True
    settings.theme = "dark"
    settings.set_window_state("geometry", QByteArray(b"\x01\x02"))
    settings.sync()
    assert settings.path.is_file()
    again = Settings()
    assert again.reviewer == "Sam"
    assert again.database == "/data/decisions.db"
    assert again.model_path == "/models/gemma.gguf"
    assert (again.threads, again.gpu_layers, again.coverage_threshold) == (6, 20, 0.65)
    assert again.blind_review is True
    assert again.theme == "dark"
    assert again.window_state("geometry") == QByteArray(b"\x01\x02")
    again.database = ""
    assert Settings().database is None


def test_bad_values_fall_back_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "odd.ini"
    path.write_text("[model]\nthreads=many\ncoverage_threshold=7\n[view]\ntheme=purple\n"
                    "[review]\nblind=yes\n")
    settings = Settings(path)
    assert settings.threads == 0
    assert settings.coverage_threshold == 0.5
    assert settings.theme == "light"
    assert settings.blind_review is True
    with pytest.raises(ValueError, match="theme"):
        settings.theme = "purple"
    with pytest.raises(ValueError, match="between 0 and 1"):
        settings.coverage_threshold = 1.5


def test_preferences_dialog_writes_the_settings(qtbot: QtBot) -> None:
    settings = Settings()
    dialog = PreferencesDialog(settings)
    qtbot.addWidget(dialog)
    dialog.reviewer.setText("Robin")
    dialog.threads.setValue(4)
    dialog.gpu_layers.setValue(0)
    dialog.coverage.setValue(0.7)
    dialog.blind_review.setChecked(True)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.model_path.setText("/m/model.gguf")
    dialog.accept()
    again = Settings()
    assert (again.reviewer, again.threads, again.gpu_layers) == ("Robin", 4, 0)
    assert again.coverage_threshold == pytest.approx(0.7)
    assert again.blind_review and again.theme == "dark"
    assert again.model_path == "/m/model.gguf"


def test_preferences_apply_to_the_window(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    fill(ui_db, 2)
    window = make_window(ui_db)
    window.actions_by_id["preferences"].trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.blind_review.setChecked(True)
    dialog.accept()
    wait_idle(qtbot, window)
    assert window.theme.name == "dark"
    assert DARK.base in QApplication.instance().styleSheet()  # type: ignore[union-attr]
    assert window.panel.is_blind_review()
    assert window.actions_by_id["toggle_blind"].isChecked()
    window.actions_by_id["dark_theme"].trigger()
    assert window.settings.theme == "light"
    assert LIGHT.base in QApplication.instance().styleSheet()  # type: ignore[union-attr]


def test_theme_style_sheets_have_no_unfilled_tokens() -> None:
    for name in ("light", "dark"):
        sheet = Theme(name).stylesheet()
        body = "\n".join(line for line in sheet.splitlines() if not line.lstrip().startswith(
            ("/*", "@name")) and "tokens are replaced" not in line)
        assert "@" not in body, name
        assert not Theme(name).icon("accept").isNull()
