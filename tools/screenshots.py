"""Save PNG screenshots of the app for a look: ``.venv/bin/python tools/screenshots.py OUTDIR``.

A developer tool, not part of the shipped package (run from a checkout).

Renders offscreen (no display needed) on a made-up demo database, in the light
and the dark theme: the filled main window, the welcome panel of an empty
database, the statistics tab and the keyboard shortcuts window; then (light) the
compare view, the import progress and its cancelled outcome, every export wizard page and
the run dialog in the middle of a real
run of the bundled model (``--no-run`` skips that one). ``main-window.png`` is the
README's picture. Settings go to a temporary folder.

``--desk`` writes only the review desk at the two screen sizes reviewers use,
1280×800 and 1920×1080 (``desk-<size>-<state>.png``): the queue, blind review,
a decision with a 20,000-character field, the "all done" banner, Preferences and
the export wizard's options and preview (examples fitted to the context),
the statistics tab, the compare view with both reasonings and the prompt viewer.
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


def shoot(outdir: Path, rows: int = 400, *, with_run: bool = True
          ) -> tuple[list[Path], list[str]]:
    """Write the screenshots into ``outdir``; return the files and notes on skipped parts."""
    from demo_data import build_demo_log

    from policy_desktop.app import application, default_parts
    from policy_desktop.store import PolicyDecisionLog
    from policy_desktop.ui.loop_actions import ReviewLoop
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.run_worker import RunController
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor
    from policy_desktop.ui.theme import Theme

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    notes: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="policy-desktop-shots-"))
    os.environ["XDG_DATA_HOME"] = str(work / "data")  # prompt versions made here stay here
    demo, empty = work / "team_decisions.db", work / "new.db"
    with PolicyDecisionLog(demo) as log:
        build_demo_log(log, rows)
    app = application()
    runs = RunController()

    for theme_name in ("light", "dark"):
        settings = Settings(work / f"{theme_name}.ini")
        settings.reviewer = "sam"
        settings.theme = theme_name
        theme = Theme(theme_name)
        theme.apply(app)
        for database, label in ((demo, "filled"), (empty, "empty")):
            executor = DbExecutor()
            parts = default_parts(ReviewLoop(runs, settings))
            window = MainWindow(settings, executor, theme, parts)
            window.resize(*WINDOW_SIZE)
            window.show()
            window.open_database(str(database))
            wait_until(app, lambda w=window: w.database is not None and w.executor.idle
                       and not w.model.loading)
            settle(app)
            save(window, outdir / f"main-{label}-{theme_name}.png", written)
            if label == "filled" and theme_name == "light":
                save(window, outdir / "main-window.png", written)  # the README's picture
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
    Theme("light").apply(app)
    shoot_import(app, outdir, work, written)
    shoot_loop(app, outdir, work, demo, written, with_run=with_run)
    runs.shutdown()
    return written, sorted(set(notes))


def shoot_import(app: QApplication, outdir: Path, work: Path, written: list[Path]) -> None:
    """File → Import log… on a long file: the progress dialog, then the outcome of Cancel."""
    import json

    from demo_data import demo_decisions

    from policy_desktop.app import default_parts
    from policy_desktop.ui.import_dialog import ImportProgressDialog, ImportResultDialog
    from policy_desktop.ui.loop_actions import ReviewLoop
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.run_worker import RunController
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor
    from policy_desktop.ui.theme import Theme

    source = work / "production_log.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for decision in demo_decisions(40_000, seed=3):
            out.write(json.dumps(decision.to_dict()) + "\n")
    settings = Settings(work / "import.ini")
    settings.reviewer = "sam"
    executor, runs = DbExecutor(), RunController()
    window = MainWindow(settings, executor, Theme("light"),
                        default_parts(ReviewLoop(runs, settings)))
    window.resize(*WINDOW_SIZE)
    window.show()
    window.open_database(str(work / "imported.db"))
    wait_until(app, lambda: window.database is not None and window.executor.idle)
    window.import_files([source])
    progress = window.findChild(ImportProgressDialog)
    assert progress is not None
    wait_until(app, lambda: progress.value() >= 150)
    save(progress, outdir / "import-progress.png", written)
    progress.cancel_import()
    wait_until(app, lambda: window.findChild(ImportResultDialog) is not None)
    settle(app)
    result = window.findChild(ImportResultDialog)
    assert result is not None
    save(result, outdir / "import-cancelled.png", written)
    window.close()
    executor.shutdown()
    runs.shutdown()
    window.deleteLater()
    settle(app, 0.05)


def shoot_loop(app: QApplication, outdir: Path, work: Path, demo: Path, written: list[Path],
               *, with_run: bool) -> None:
    """The compare view, each export wizard page and the run dialog mid-run."""
    from policy_desktop.store import PolicyDecisionLog
    from policy_desktop.ui.compare_dialog import CompareDialog
    from policy_desktop.ui.export_wizard import ExportWizard
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor

    settings = Settings(work / "loop.ini")
    executor = DbExecutor()
    executor.open(str(demo))
    compare = CompareDialog(executor)
    compare.show()
    wait_until(app, lambda: compare.comparison is not None)
    settle(app)
    save(compare, outdir / "compare-runs.png", written)
    compare.close()
    executor.shutdown()

    with PolicyDecisionLog(demo) as log:  # enough corrections to pass the gate
        for decision in log.get_unreviewed_decisions(limit=40):
            assert decision.decision_id is not None
            fixed = "deny" if decision.decision != "deny" else "require_attestation"
            log.mark_reviewed(decision.decision_id, fixed, reviewer="sam")
        corrections = log.count_corrections()
    wizard = ExportWizard(str(demo), corrections, settings)
    wizard.options_page.folder.setText(str(work / "training_export"))
    wizard.show()
    settle(app)
    save(wizard, outdir / "export-1-readiness.png", written)
    wizard.next()
    settle(app)
    save(wizard, outdir / "export-2-options.png", written)
    wizard.next()
    wait_until(app, lambda: wizard.preview_page.preview is not None, 180)
    settle(app)
    save(wizard, outdir / "export-3-preview.png", written)
    wizard.next()
    wait_until(app, lambda: wizard.result_page.result is not None, 180)
    wizard.result_page.create_prompt_version("v3_reviewed_demo")
    settle(app)
    save(wizard, outdir / "export-4-result.png", written)
    wizard.close()
    blocked = ExportWizard(str(demo), 31, settings)
    blocked.show()
    settle(app)
    save(blocked, outdir / "export-0-not-ready.png", written)
    blocked.close()
    if with_run:
        shoot_run_dialog(app, outdir, work, settings, written)


def shoot_run_dialog(app: QApplication, outdir: Path, work: Path, settings: object,
                     written: list[Path]) -> None:
    """The run dialog while the bundled model answers, then with the result."""
    from policy_desktop.ui.run_dialog import RunDialog
    from policy_desktop.ui.run_worker import RunController

    controller = RunController()
    dialog = RunDialog(controller, settings, str(work / "runs.db"))  # type: ignore[arg-type]
    dialog.select_subset(["E01", "E02"])
    dialog.show()
    dialog.start_run()
    wait_until(app, lambda: "reasoning" in dialog._stream.toPlainText(), 600)
    save(dialog, outdir / "run-dialog-mid-run.png", written)
    wait_until(app, lambda: not controller.running, 900)
    settle(app)
    save(dialog, outdir / "run-dialog-finished.png", written)
    dialog.close()
    controller.shutdown()


DESK_SIZES = ((1280, 800), (1920, 1080))


def shoot_desk(outdir: Path) -> list[Path]:
    """The review desk at :data:`DESK_SIZES` (see the module docstring)."""
    from demo_data import build_demo_log

    from policy_desktop.app import application, default_parts
    from policy_desktop.store import PolicyDecision, PolicyDecisionLog
    from policy_desktop.ui.compare_dialog import CompareDialog
    from policy_desktop.ui.export_wizard import ExportWizard
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.preferences_dialog import PreferencesDialog
    from policy_desktop.ui.prompt_viewer import PromptViewer
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor
    from policy_desktop.ui.theme import Theme

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="policy-desktop-desk-"))
    os.environ["XDG_DATA_HOME"] = str(work / "data")
    demo = work / "team_decisions.db"
    with PolicyDecisionLog(demo) as log:
        build_demo_log(log, 300)
        long_id = log.log_decision(PolicyDecision(
            situation={"actor": "ops-bot", "role": "service", "action": "write",
                       "target": "docs/changelog.md", "environment": "production",
                       "note": ("x" * 2000 + " Ticket 4411 approved by the change board. ")
                       * 10},
            team_context="Platform team. " * 40, model_name="gemma-3-270m",
            model_version="Q4_K_M", prompt_version="v2_fewshot_8examples", decision="deny",
            classification="destructive_admin_action", risk_level="high",
            reasoning="Production writes by a service account need a change ticket. " * 8,
            confidence=0.41))
        for decision in log.get_unreviewed_decisions(limit=60):
            assert decision.decision_id is not None
            if decision.decision_id != long_id:
                fixed = "deny" if decision.decision != "deny" else "require_attestation"
                log.mark_reviewed(decision.decision_id, fixed, reviewer="sam")
        corrections = log.count_corrections()
    app = application()
    theme = Theme("light")
    theme.apply(app)
    for width, height in DESK_SIZES:
        size = f"{width}x{height}"
        settings = Settings(work / f"desk-{size}.ini")
        settings.reviewer = "sam"
        executor = DbExecutor()
        window = MainWindow(settings, executor, theme, default_parts())
        window.resize(width, height)
        window.show()
        window.open_database(str(demo))

        def idle(w: MainWindow = window) -> bool:
            return (w.database is not None and w.executor.idle and not w.model.loading
                    and not w.feed.loading)

        wait_until(app, idle)
        settle(app)
        save(window, outdir / f"desk-{size}-queue.png", written)
        window.toggle_blind_review()
        wait_until(app, idle)
        settle(app)
        save(window, outdir / f"desk-{size}-blind.png", written)
        window.toggle_blind_review()
        window.filter_bar.search.setText("ops-bot")
        wait_until(app, lambda w=window: w.model.rowCount() == 1 and idle(w), 10)
        window.select_decision(long_id)
        wait_until(app, lambda w=window: w.shown_decision is not None
                   and w.shown_decision.decision_id == long_id)
        settle(app, 0.5)
        save(window, outdir / f"desk-{size}-long-value.png", written)
        window.filter_bar.clear_facets()
        window.filter_bar.set_view("corrections")
        wait_until(app, idle)
        settle(app)
        save(window, outdir / f"desk-{size}-corrections.png", written)
        window.filter_bar.set_view("unreviewed")
        window.filter_bar.search.setText("ops-bot")
        wait_until(app, lambda w=window: w.model.rowCount() == 1 and idle(w), 10)
        window.panel.accept()  # the last one of this queue
        wait_until(app, lambda w=window: idle(w) and w.queue_done.isVisible(), 10)
        settle(app)
        save(window, outdir / f"desk-{size}-all-done.png", written)
        window.undo_last_review()
        wait_until(app, idle)
        preferences = PreferencesDialog(settings, window)
        preferences.show()
        settle(app)
        save(preferences, outdir / f"desk-{size}-preferences.png", written)
        preferences.close()
        window.show_statistics()
        wait_until(app, idle)
        settle(app, 0.6)
        save(window, outdir / f"desk-{size}-statistics.png", written)
        compare = CompareDialog(executor, window)
        compare.resize(min(width - 200, 1200), min(height - 160, 800))
        compare.show()
        wait_until(app, lambda c=compare, e=executor: c.comparison is not None and e.idle)
        compare.table.setCurrentCell(0, 0)
        wait_until(app, lambda c=compare: bool(c.reasoning_b.toPlainText()), 10)
        settle(app)
        save(compare, outdir / f"desk-{size}-compare.png", written)
        compare.close()
        viewer = PromptViewer(parent=window)
        viewer.resize(min(width - 200, 1000), min(height - 120, 800))
        viewer.show()
        settle(app)
        save(viewer, outdir / f"desk-{size}-prompt-viewer.png", written)
        viewer.close()
        window.close()
        executor.shutdown()
        window.deleteLater()
        settle(app, 0.05)

        wizard = ExportWizard(str(demo), corrections, settings)
        wizard.resize(min(width - 200, 1100), min(height - 120, 900))
        wizard.options_page.folder.setText(str(work / f"export-{size}"))
        wizard.show()
        wizard.next()
        settle(app)
        save(wizard, outdir / f"desk-{size}-export-options.png", written)
        wizard.next()
        wait_until(app, lambda w=wizard: w.preview_page.preview is not None, 240)
        wizard.preview_page.example_list.setCurrentRow(0)
        settle(app)
        save(wizard, outdir / f"desk-{size}-export-preview.png", written)
        wizard.close()
        settle(app, 0.05)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: write the screenshots and list them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument("--rows", type=int, default=400, help="demo decisions (default 400)")
    parser.add_argument("--no-run", action="store_true",
                        help="skip the run dialog (it runs the bundled model)")
    parser.add_argument("--desk", action="store_true",
                        help="only the review desk at 1280x800 and 1920x1080")
    args = parser.parse_args(argv)
    if args.desk:
        for path in shoot_desk(args.outdir):
            print(path)
        return 0
    written, notes = shoot(args.outdir, args.rows, with_run=not args.no_run)
    for path in written:
        print(path)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
