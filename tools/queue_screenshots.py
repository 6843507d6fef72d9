"""Screenshots of the window working the team's queue: ``.venv/bin/python
tools/queue_screenshots.py OUTDIR`` writes ``desk-queue-*.png`` at 1280×800.

A developer tool (run from a checkout), offscreen on a made-up demo database that a
team works: ann's claimed batch, a claim lost to bob, a blind second opinion, and
"my queue" after a lead delegated a filter to ann.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from screenshots import save, settle, wait_until

SIZE = (1280, 800)


def shoot(outdir: Path) -> list[Path]:
    """Write the screenshots; return the files."""
    from demo_data import build_demo_log

    from policy_desktop.app import application, default_parts
    from policy_desktop.store import PolicyDecisionLog
    from policy_desktop.store.assignments import Assignments
    from policy_desktop.store.queries import DecisionFilter
    from policy_desktop.store.review_queue import ReviewQueue
    from policy_desktop.ui.main_window import MainWindow
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor
    from policy_desktop.ui.theme import Theme

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="policy-desktop-queue-shots-"))
    os.environ["XDG_DATA_HOME"] = str(work / "data")
    demo = work / "team_decisions.db"
    with PolicyDecisionLog(demo) as log:
        build_demo_log(log, 120)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        for claim in queue.claim("bob", 5):  # bob has reviewed a few already
            queue.submit(claim)
    app = application()
    settings = Settings(work / "ann.ini")
    settings.reviewer = "ann"
    Theme("light").apply(app)

    def window_on(database: Path) -> tuple[MainWindow, DbExecutor]:
        executor = DbExecutor()
        window = MainWindow(settings, executor, Theme("light"), default_parts())
        window.resize(*SIZE)
        window.show()
        window.open_database(str(database))
        wait_until(app, lambda: bool(window.queue.desk.claims) and executor.idle
                   and not window.model.loading)
        settle(app, 0.5)
        return window, executor

    def press(window: MainWindow, key: Qt.Key) -> None:
        QTest.keyClick(window.focusWidget() or window.table, key)
        wait_until(app, lambda: window.executor.idle and not window.model.loading)
        settle(app, 0.3)

    window, executor = window_on(demo)
    window.activateWindow()
    window.table.setFocus()
    press(window, Qt.Key.Key_A)  # one accepted through the queue
    save(window, outdir / "desk-queue-claimed.png", written)

    with PolicyDecisionLog(demo) as log:  # ann's lease ran out and bob took her batch
        ReviewQueue(log, clock=lambda: time.time() + 3600).claim("bob", 5)
    press(window, Qt.Key.Key_A)
    save(window, outdir / "desk-queue-claim-lost.png", written)
    window.close()
    executor.shutdown()

    with PolicyDecisionLog(demo) as log:  # a blind second opinion waits for ann
        queue = ReviewQueue(log)
        queue.release("bob")
        queue.set_overlap_percent(100)
        [first] = queue.claim("bob", 1)
        queue.submit(first, "deny", "Contractors may not read the payroll export.")
        queue.set_overlap_percent(0)
    window, executor = window_on(demo)
    save(window, outdir / "desk-queue-second-opinion.png", written)
    window.close()
    executor.shutdown()

    with PolicyDecisionLog(demo) as log:  # a lead delegated the model's denials to ann
        Assignments(log).assign("ann", DecisionFilter(decision="deny"), by="lead", limit=6)
    window, executor = window_on(demo)
    window.review_pages.queue_bar.pool.setCurrentIndex(1)
    window.queue.desk.set_pool("mine")
    wait_until(app, lambda: bool(window.queue.desk.claims) and executor.idle)
    settle(app, 0.5)
    save(window, outdir / "desk-queue-my-queue.png", written)
    window.close()
    executor.shutdown()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    for path in shoot(args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
