"""GUI responsiveness during background work (offscreen): runs and the export wizard.

Prints, measured in one process:

* the worst and 99th-percentile event-loop stall while the full suite runs on the bundled
  model with the run dialog open and the answer streaming in (a 10 ms QTimer measures the
  gaps between its ticks; goal: no stall above 100 ms);
* the time to the first scenario result on a warm model (the model stays loaded between
  runs), beside the cold first run;
* the export wizard's export of 10,000 corrections (real embedding model), from Finish to
  the written folder, with the stall during it.

Run: ``.venv/bin/python benchmarks/bench_gui_run.py [--scenarios N] [--corrections N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.vocabulary import DECISIONS


class StallMeter:
    """Measures how late a 10 ms timer fires: the event loop's longest stalls."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.interval = interval_ms
        self.gaps: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        self.gaps.append(max(0.0, self._clock.restart() - self.interval))

    def summary(self) -> str:
        if not self.gaps:
            return "no ticks"
        ordered = sorted(self.gaps)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (f"worst {max(ordered):.0f} ms, p99 {p99:.0f} ms, median "
                f"{statistics.median(ordered):.1f} ms over {len(ordered)} ticks")


def pump_until(app: QApplication, done: Callable[[], bool], timeout_s: float) -> float:
    """Process events until ``done()``; return the seconds it took."""
    started = time.perf_counter()
    while not done():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError("timed out")
    return time.perf_counter() - started


def bench_runs(app: QApplication, folder: Path, scenarios: int) -> None:
    from policy_desktop.engine.scenarios import load_suite
    from policy_desktop.ui.run_dialog import RunDialog
    from policy_desktop.ui.run_worker import RunController
    from policy_desktop.ui.settings import Settings

    log = PolicyDecisionLog(folder / "runs.db")
    controller = RunController()
    dialog = RunDialog(controller, Settings(folder / "settings.ini"), str(folder / "runs.db"))
    dialog.show()
    ids = list(load_suite().ids)[:scenarios]
    meter = StallMeter()
    rows: list[tuple[str, str]] = []
    for label in ("cold (model loads)", "warm (model loaded)"):
        dialog.select_subset(ids)
        first: list[float] = []
        start = time.perf_counter()
        worker = controller.worker
        marker = lambda _r, s=start, f=first: f.append(time.perf_counter() - s) if not f else None  # noqa: E731
        worker.decision_logged.connect(marker)
        meter.start()
        dialog.start_run()
        total = pump_until(app, lambda: not controller.running and bool(dialog._summary.text()),
                           1800)
        meter.stop()
        worker.decision_logged.disconnect(marker)
        rows.append((f"{label}: first result", f"{first[0]:.2f} s" if first else "n/a"))
        rows.append((f"{label}: {len(ids)} scenarios", f"{total:.1f} s"))
        rows.append((f"{label}: GUI stall", meter.summary()))
        worst = max(meter.gaps) if meter.gaps else 0
        rows.append((f"{label}: stall goal <= 100 ms", "met" if worst <= 100 else "MISSED"))
    dialog.close()
    controller.shutdown()
    log.close()
    for name, value in rows:
        print(f"  {name:<42} {value}")


def build_corrections(path: Path, count: int) -> None:
    log = PolicyDecisionLog(path)
    decisions = []
    for i in range(count):
        decisions.append(PolicyDecision(
            situation={"actor": f"user{i % 997}", "role": ("member", "contractor")[i % 2],
                       "action": ("write", "deploy", "read", "delete")[i % 4],
                       "target": f"repo{i % 31}/path/file{i}.py", "trust_score": (i % 100) / 100},
            model_name="Gemma 3 270m", model_version="Q4_K_M",
            prompt_version="v2_fewshot_8examples", decision=DECISIONS[i % 4],
            classification="change", risk_level="medium",
            reasoning=f"The model's reasoning about case {i}.", reviewed=True,
            review_decision=DECISIONS[(i + 1 + i // 4) % 4],
            review_reasoning=f"Corrected reasoning {i}: the role {i % 7} rule applies here.",
            reviewer="bench", review_action="correct_both"))
    log.import_decisions(decisions)
    log.close()


def bench_export(app: QApplication, folder: Path, corrections: int) -> None:
    from PySide6.QtWidgets import QWizard

    from policy_desktop.ui.export_wizard import ExportWizard
    from policy_desktop.ui.settings import Settings

    database = folder / "export.db"
    started = time.perf_counter()
    build_corrections(database, corrections)
    label = f"built {corrections:,} corrections"
    print(f"  {label:<42} {time.perf_counter() - started:.1f} s")
    wizard = ExportWizard(str(database), corrections, Settings(folder / "settings.ini"))
    wizard.show()
    wizard.next()
    wizard.options_page.folder.setText(str(folder / "export_out"))
    meter = StallMeter()
    meter.start()
    wizard.next()
    preview = pump_until(app, lambda: wizard.preview_page.preview is not None, 600)
    wizard.button(QWizard.WizardButton.CommitButton).click()
    export = pump_until(app, lambda: wizard.result_page.result is not None, 900)
    meter.stop()
    print(f"  {'wizard preview (incl. embedding model load)':<42} {preview:.1f} s")
    print(f"  {'wizard export, Finish to folder written':<42} {export:.1f} s")
    print(f"  {'GUI stall during preview + export':<42} {meter.summary()}")
    wizard.controller.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--corrections", type=int, default=10_000)
    parser.add_argument("--skip-run", action="store_true")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(folder / "data")
        os.environ["XDG_CONFIG_HOME"] = str(folder / "config")
        if not args.skip_run:
            print("Background scenario runs (run dialog open, answer streaming):")
            bench_runs(app, folder, args.scenarios)  # type: ignore[arg-type]
        print("Export wizard:")
        bench_export(app, folder, args.corrections)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
