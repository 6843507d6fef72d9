"""Save PNG screenshots of the app for a look: ``python -m policy_desktop.ui.screenshots OUTDIR``.

Renders offscreen (no display needed) on a made-up demo database, in the light
and the dark theme: the filled main window, the welcome panel of an empty
database, the statistics tab and the keyboard shortcuts window. Parts that do
not exist yet are skipped with a note. Settings go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QWidget

WINDOW_SIZE = (1440, 860)


def wait_until(app: QApplication, done: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Process events until ``done()`` or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if done():
            return True
        time.sleep(0.01)
    return False


def settle(app: QApplication, seconds: float = 0.3) -> None:
    """Let layouts, fetches and repaints finish."""
    wait_until(app, lambda: False, seconds)


def save(widget: QWidget, path: Path, written: list[Path]) -> None:
    """Grab ``widget`` into ``path``."""
    widget.grab().save(str(path))
    written.append(path)


def shoot(outdir: Path, rows: int = 400) -> tuple[list[Path], list[str]]:
    """Write the screenshots into ``outdir``; return the files and notes on skipped parts."""
    from policy_desktop.app import application, default_parts
    from policy_desktop.store import PolicyDecisionLog
    from policy_desktop.ui.demo_data import build_demo_log
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor
    from policy_desktop.ui.theme import Theme

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    notes: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="policy-desktop-shots-"))
    demo, empty = work / "team_decisions.db", work / "new.db"
    with PolicyDecisionLog(demo) as log:
        build_demo_log(log, rows)
    app = application()

    for theme_name in ("light", "dark"):
        settings = Settings(work / f"{theme_name}.ini")
        settings.reviewer = "sam"
        settings.theme = theme_name
        theme = Theme(theme_name)
        theme.apply(app)
        for database, label in ((demo, "filled"), (empty, "empty")):
            executor = DbExecutor()
            parts = default_parts()
            window = MainWindow(settings, executor, theme, parts)
            window.resize(*WINDOW_SIZE)
            window.show()
            window.open_database(str(database))
            wait_until(app, lambda w=window: w.database is not None and w.executor.idle
                       and not w.model.loading)
            settle(app)
            save(window, outdir / f"main-{label}-{theme_name}.png", written)
            if label == "filled":
                window.filter_bar.set_view("all")
                window.filter_bar.set_sort("least_confident")
                wait_until(app, lambda w=window: w.executor.idle and not w.model.loading)
                window.select_row(3)
                wait_until(app, lambda w=window: w.executor.idle)
                settle(app)
                save(window, outdir / f"main-all-least-confident-{theme_name}.png", written)
                if parts.statistics_view is not None:
                    window.show_statistics()
                    wait_until(app, lambda w=window: w.executor.idle)
                    settle(app, 0.6)
                    save(window, outdir / f"statistics-{theme_name}.png", written)
                if parts.shortcuts_dialog is not None:
                    dialog = parts.shortcuts_dialog(window)
                    dialog.show()
                    settle(app)
                    save(dialog, outdir / f"shortcuts-{theme_name}.png", written)
                    dialog.close()
                else:
                    notes.append("shortcuts window: not available yet (skipped)")
            window.close()
            executor.shutdown()
            window.deleteLater()
            settle(app, 0.05)
    return written, sorted(set(notes))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: write the screenshots and list them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument("--rows", type=int, default=400, help="demo decisions (default 400)")
    args = parser.parse_args(argv)
    written, notes = shoot(args.outdir, args.rows)
    for path in written:
        print(path)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
