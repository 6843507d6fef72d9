"""``policy-desktop`` / ``policy-desktop gui``: the display check, the import path, main()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from window_helpers import fill

from policy_desktop.commands.gui import display_available

REPO = Path(__file__).resolve().parents[2]


def headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.mark.parametrize("argv", [["gui"], [], ["gui", "--db", "x.db"]])
def test_without_a_display_a_one_line_hint_instead_of_a_traceback(
        argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "policy_desktop", *argv],
                            capture_output=True, text=True, env=headless_env(),
                            cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "policy-desktop review" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_display_detection() -> None:
    assert not display_available({}, "linux")
    assert display_available({"DISPLAY": ":0"}, "linux")
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_available({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert display_available({}, "darwin")


def test_the_gui_path_loads_no_model_libraries() -> None:
    code = ("import sys, policy_desktop.app, policy_desktop.commands.gui;"
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'llama_cpp') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


MAIN_SCRIPT = """
import sys, threading
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from policy_desktop import app as app_module
from policy_desktop.ui.main_window import MainWindow

app = QApplication([sys.argv[0]])

def look():
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
    if windows and windows[0].model.rowCount() == 3:
        print("title:", windows[0].windowTitle())
        windows[0].close()
    else:
        QTimer.singleShot(20, look)

QTimer.singleShot(0, look)
code = app_module.main(sys.argv[1])
print("threads:", [t.name for t in threading.enumerate() if t.name.startswith("policy-db")])
heavy = [m for m in ("torch", "sentence_transformers", "llama_cpp") if m in sys.modules]
print("heavy:", heavy)
sys.exit(code)
"""


def test_main_opens_the_window_on_the_database_and_shuts_down(db_path: Path) -> None:
    fill(db_path, 3)
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", MAIN_SCRIPT, str(db_path)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f"title: {db_path} — Policy Desktop" in result.stdout
    assert "threads: []" in result.stdout  # the database thread was joined
    assert "heavy: []" in result.stdout
    assert "Traceback" not in result.stderr
