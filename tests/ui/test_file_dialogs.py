"""File dialogs never open the database outside SQLite (issue 11 item 1, the GUI side).

Closing any descriptor of a database file releases this process's SQLite locks;
Qt's default file dialog opens the files it lists to find their type. The real
window is driven: Ctrl+O and Escape, other processes read and write, the window
reviews, and every review from both sides must be in the file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QFileSystemModel, QPushButton
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill, wait_idle

from policy_desktop.ui.file_dialogs import NameOnlyIconProvider
from policy_desktop.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]

REVIEWS_SCRIPT = """
import json, sys
from policy_desktop.store import PolicyDecisionLog
with PolicyDecisionLog(sys.argv[1], create=False) as log:
    print(json.dumps({d: [log.get_decision(d).reviewed, log.get_decision(d).reviewer]
                      for d in sys.argv[2:]}))
"""
REVIEW_SCRIPT = """
import sys
from policy_desktop.store import PolicyDecisionLog
with PolicyDecisionLog(sys.argv[1], create=False) as log:
    log.mark_reviewed(sys.argv[2], "deny", None, "outsider")
"""


def outside(*args: str) -> str:
    """Run a command in another process (the same interpreter); return its output."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def reviews_seen_outside(db_path: Path, ids: list[str]) -> dict[str, list[Any]]:
    return json.loads(outside("-c", REVIEWS_SCRIPT, str(db_path), *ids))


def cancel_when_listed(qtbot: QtBot, seen: list[QFileDialog], listed: list[str]) -> None:
    """Once the modal file dialog has listed its folder (icons and types), press Escape."""
    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, poll)
            return
        model = dialog.findChild(QFileSystemModel)
        root = model.index(dialog.directory().absolutePath()) if model else None
        if model is None or root is None or model.rowCount(root) == 0:
            QTimer.singleShot(50, poll)
            return
        if dialog not in seen:  # listed: give the gatherer time for icons and types
            seen.append(dialog)
            listed.extend(model.index(row, 0, root).data()
                          for row in range(model.rowCount(root)))
            for row in range(model.rowCount(root)):
                for column in range(model.columnCount(root)):
                    model.data(model.index(row, column, root), Qt.ItemDataRole.DecorationRole)
                    model.data(model.index(row, column, root))
            QTimer.singleShot(1500, poll)
            return
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    QTimer.singleShot(0, poll)


def press(qtbot: QtBot, window: MainWindow, key: Qt.Key,
          modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.focusWidget() or window.table, key, modifier)
    wait_idle(qtbot, window)


def test_open_dialog_then_outside_processes_lose_no_review(
        qtbot: QtBot, make_window: Any, db_path: Path) -> None:
    ids = list(reversed(fill(db_path, 6)))  # newest first, as the table lists them
    window = make_window(db_path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()

    seen: list[QFileDialog] = []
    listed: list[str] = []
    cancel_when_listed(qtbot, seen, listed)
    press(qtbot, window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)  # Ctrl+O, Esc
    assert db_path.name in listed  # the dialog listed the database's own folder
    window.activateWindow()  # back from the dialog, as the window manager does
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    assert window.database is not None and window.database.display_name.endswith(db_path.name)

    outside("-m", "policy_desktop", "--db", str(db_path), "stats")  # connects, disconnects
    outside("-c", REVIEW_SCRIPT, str(db_path), ids[5])
    press(qtbot, window, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: window.shown_decision is not None
                    and window.shown_decision.decision_id == ids[1], timeout=WAIT_MS)
    press(qtbot, window, Qt.Key.Key_A)
    wait_idle(qtbot, window)
    seen_now = reviews_seen_outside(db_path, [*ids[:2], ids[5]])
    assert seen_now == {ids[0]: [True, "tess"], ids[1]: [True, "tess"],
                        ids[5]: [True, "outsider"]}

    outside("-c", REVIEW_SCRIPT, str(db_path), ids[4])
    qtbot.waitUntil(lambda: window.shown_decision is not None
                    and window.shown_decision.decision_id == ids[2], timeout=WAIT_MS)
    press(qtbot, window, Qt.Key.Key_A)
    window.close()
    window.executor.shutdown()

    final = reviews_seen_outside(db_path, ids)
    assert final == {ids[0]: [True, "tess"], ids[1]: [True, "tess"], ids[2]: [True, "tess"],
                     ids[3]: [False, None], ids[4]: [True, "outsider"],
                     ids[5]: [True, "outsider"]}


def opened_dialog(qtbot: QtBot, open_it: Callable[[], object]) -> QFileDialog:
    """Open a file dialog with ``open_it``, cancel it, and return it for inspection."""
    found: list[QFileDialog] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QFileDialog):
            found.append(dialog)
            dialog.reject()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    open_it()
    assert found, "no file dialog opened"
    return found[0]


def assert_safe(dialog: QFileDialog) -> None:
    assert isinstance(dialog.iconProvider(), NameOnlyIconProvider)
    assert dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
    assert not dialog.mimeTypeFilters()


def test_every_file_dialog_of_the_window_lists_without_reading(
        qtbot: QtBot, make_window: Any, db_path: Path) -> None:
    fill(db_path, 2)
    window = make_window(db_path)
    for action_id in ("open_database", "new_database", "import_log"):
        assert_safe(opened_dialog(qtbot, window.actions_by_id[action_id].trigger))
    wait_idle(qtbot, window)

    from policy_desktop.ui.preferences_dialog import PreferencesDialog

    preferences = PreferencesDialog(window.settings, window)
    qtbot.addWidget(preferences)
    browse = [b for b in preferences.findChildren(QPushButton) if b.text() == "Browse…"]
    assert len(browse) == 2
    for button in browse:
        assert_safe(opened_dialog(qtbot, button.click))

    from policy_desktop.ui.export_wizard import OptionsPage

    page = OptionsPage(window.settings)
    qtbot.addWidget(page)
    assert_safe(opened_dialog(qtbot, page._browse))


def test_the_icon_provider_decides_from_the_name(tmp_path: Path, qapp: Any) -> None:
    database = tmp_path / "policy.db"
    database.write_bytes(b"SQLite format 3\x00" + bytes(100))
    database.chmod(0)  # reading it would fail: the provider must not need to
    from PySide6.QtCore import QFileInfo

    provider = NameOnlyIconProvider()
    assert provider.type(QFileInfo(str(database))) == "DB file"
    assert provider.type(QFileInfo(str(tmp_path))) == "Folder"
    assert not provider.icon(QFileInfo(str(database))).isNull()
    database.chmod(0o600)


def test_no_file_dialog_is_built_outside_the_safe_module() -> None:
    """The guard: a new ``QFileDialog.get…`` or ``QFileDialog(`` elsewhere fails here."""
    pattern = re.compile(r"QFileDialog\s*(\.\s*get\w+|\()|QFileDialog\.Option\.|"
                         r"setMimeTypeFilters|mimeTypeForFile")
    offenders = []
    for path in sorted((ROOT / "policy_desktop").rglob("*.py")):
        if path.name == "file_dialogs.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use policy_desktop.ui.file_dialogs:\n" + "\n".join(offenders)
