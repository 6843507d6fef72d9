"""Time the desktop app on a large decision log, offscreen: launch, filters, paging, reviews.

Run: ``.venv/bin/python benchmarks/bench_gui.py [--rows 1000000] [--fetches 200]``

The database (``--rows`` demo decisions, about 30% reviewed) is built once with
``import_decisions`` and cached in ``$TMPDIR/policy-desktop-bench/``. The window
is then measured in a fresh child process, so the launch includes every import:

* launch: from the child's first line to the first paint of the table with rows
  (goal <= 1.5 s); torch, sentence_transformers and llama_cpp must stay unloaded;
* switching filter: from the click to the new rows painted (goal <= 200 ms each);
* fetchMore while scrolling to the end of a view: each page until it is painted
  (goal <= 50 ms; worst and median over ``--fetches``);
* committing one review, including moving to the next decision and showing it
  in the review panel (goal <= 50 ms; worst and median over ``--reviews``);
* a burst of ``--burst`` accept keys pressed faster than the event loop runs (issue 12
  item 3): every key must act, each on its own decision (goal: all applied, none twice),
  and the time until the last is written and the next decision shown;
* peak RSS of the child (goal <= 400 MB);
* in the parent, the few-shot token estimate (``approximate_tokens``) against the bundled
  Gemma model's own tokenizer on the same texts, side by side (the estimate must never
  be below: it decides what fits the context). ``--no-tokens`` skips it.

This is a benchmark, not a timed test: it prints a table and never fails.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

GOALS = {"launch": 1.5, "filter": 0.200, "fetch": 0.050, "commit": 0.050, "rss_mb": 400}
HEAVY = ("torch", "sentence_transformers", "llama_cpp")


# --- building the database (parent process) -------------------------------------------

def build_database(path: Path, rows: int) -> float:
    """Fill ``path`` with ``rows`` demo decisions (30% reviewed); return the seconds taken."""
    import random

    from policy_desktop.store import PolicyDecisionLog
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    from demo_data import demo_decisions

    started = time.perf_counter()
    rng = random.Random(11)
    partial = path.with_suffix(".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    with PolicyDecisionLog(partial) as log:
        batch = []
        for number, decision in enumerate(demo_decisions(rows, seed=11), start=1):
            if decision.decision != "unparseable" and rng.random() < 0.3:
                decision.reviewed = True
                decision.reviewer = "bench"
                if decision.decision_correct is False and decision.expected_decision:
                    decision.review_decision = decision.expected_decision
            batch.append(decision)
            if len(batch) == 5_000:
                log.import_decisions(batch)
                batch = []
            if number % 100_000 == 0:
                print(f"  … {number:,} decisions", file=sys.stderr)
        log.import_decisions(batch)
        log.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    return time.perf_counter() - started


# --- measuring the window (child process) ----------------------------------------------

def _median(values: list[float]) -> float:
    return _quantile(values, 0.5)


def _quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def measure(database: Path, fetches: int, reviews: int, burst: int = 10) -> dict[str, Any]:
    """Launch the window on ``database`` and time it; runs in the child process."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    config = tempfile.mkdtemp(prefix="policy-desktop-bench-config-")
    os.environ["XDG_CONFIG_HOME"] = config

    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from policy_desktop.app import application, build_window
    from policy_desktop.ui.settings import Settings
    from policy_desktop.ui.tasks import DbExecutor

    app = application()
    settings = Settings()
    settings.reviewer = "bench"
    executor = DbExecutor()
    window = build_window(settings, executor, app)
    model, table = window.model, window.table
    painted = {"at": 0.0}

    class PaintWatch(QObject):
        def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and model.rowCount() and not painted["at"]:
                painted["at"] = time.perf_counter()
            return False

    watch = PaintWatch()
    table.viewport().installEventFilter(watch)

    def spin_until(done: Any, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not get there in time")
            app.processEvents()

    def painted_after(action: Any, done: Any) -> float:
        painted["at"] = 0.0
        started = time.perf_counter()
        action()
        spin_until(lambda: done() and painted["at"])
        return painted["at"] - started

    window.resize(1440, 860)
    window.show()
    window.open_database(str(database))
    spin_until(lambda: painted["at"] > 0)
    results: dict[str, Any] = {"launch": painted["at"] - _T0}
    results["heavy"] = [name for name in HEAVY if name in sys.modules]
    spin_until(lambda: executor.idle and not model.loading)

    switches: dict[str, float] = {}
    for view, sort in (("incorrect", "newest"), ("reviewed", "newest"), ("all", "newest"),
                       ("unreviewed", "least_confident"), ("corrections", "newest"),
                       ("unreviewed", "newest")):
        def switch(v: str = view, s: str = sort) -> None:
            window.filter_bar.set_sort(s)
            window.filter_bar.set_view(v)

        spin_until(lambda: executor.idle)
        switches[f"{view}, {sort}"] = painted_after(
            switch, lambda: not model.loading and model.rowCount() > 0)
    results["filter"] = switches

    window.filter_bar.set_view("all")
    spin_until(lambda: executor.idle and not model.loading)
    fetch_times: list[float] = []
    for _ in range(fetches):
        spin_until(lambda: not model.loading)  # the view may have asked for a page itself
        if not model.canFetchMore():
            break
        before = model.rowCount()

        def more() -> None:
            model.fetchMore()

        def scrolled(before: int = before) -> bool:
            if model.rowCount() > before:
                table.scrollToBottom()
                return True
            return False

        fetch_times.append(painted_after(more, scrolled))
    results["fetch"] = fetch_times
    results["rows_held"] = model.rowCount()

    window.filter_bar.set_sort("newest")
    window.filter_bar.set_view("unreviewed")
    spin_until(lambda: executor.idle and not model.loading)
    window.select_row(0)
    spin_until(lambda: executor.idle and window.shown_decision is not None)
    commit_times: list[float] = []
    gc_pauses: list[float] = []
    gc_started = {"at": 0.0}

    def watch_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            gc_started["at"] = time.perf_counter()
        else:
            gc_pauses.append(time.perf_counter() - gc_started["at"])

    import gc

    gc.callbacks.append(watch_gc)
    panel: Any = window.panel
    for _ in range(reviews):
        current = window.selected_decision_id()
        following = model.decision_id(model.row_of(current) + 1)
        unparseable = window.shown_decision.decision == "unparseable"
        started = time.perf_counter()
        if unparseable:  # nothing to accept: choose the right decision
            panel.choose_decision("deny")
            panel.commit()
        else:
            panel.accept()
        spin_until(lambda f=following: window.shown_decision is not None
                   and window.shown_decision.decision_id == f
                   and window.selected_decision_id() == f)
        commit_times.append(time.perf_counter() - started)
        spin_until(lambda: executor.idle and not model.loading)
    results["commit"] = commit_times
    gc.callbacks.remove(watch_gc)
    results["gc_max"] = max(gc_pauses, default=0.0)
    window.select_row(0)
    spin_until(lambda: executor.idle and window.shown_decision is not None
               and not window.feed.loading)
    first_row = model.row_of(window.selected_decision_id())
    expected = [model.decision_id(first_row + n) for n in range(burst)]
    before_stack = len(window.review_session.undo_stack)
    accept = window.actions_by_id["accept"]
    started = time.perf_counter()
    for _ in range(burst):  # no event processing between the presses: a worst case
        accept.trigger()
    spin_until(lambda: executor.idle and not model.loading and not window.feed.loading
               and not window.keys.waiting and not window.review_session.busy)
    results["burst_s"] = time.perf_counter() - started
    applied = list(window.review_session.undo_stack[before_stack:])
    results["burst_applied"] = len(applied)
    results["burst_in_order"] = applied == expected
    results["burst_twice"] = len(applied) - len(set(applied))
    reviewed = list(window.review_session.undo_stack)  # keep the cached database as it was
    executor.submit(lambda log: [log.undo_review(i) for i in reviewed])
    spin_until(lambda: executor.idle)

    import resource

    results["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window.close()
    executor.shutdown()
    QApplication.processEvents()
    return results


# --- report (parent process) -----------------------------------------------------------

def report(rows: int, build_s: float | None, results: dict[str, Any]) -> str:
    lines = [f"Policy Desktop GUI benchmark: {rows:,} decisions, offscreen"]
    if build_s is not None:
        lines.append(f"(database built in {build_s:.0f} s and cached)")
    lines += ["", f"{'measure':<44}{'value':>12}{'goal':>10}  ok", "-" * 70]

    def row(name: str, value: float, goal: float, unit: str = "ms") -> None:
        shown = f"{value * 1000:.1f} ms" if unit == "ms" else f"{value:.2f} {unit}"
        goal_text = f"{goal * 1000:.0f} ms" if unit == "ms" else f"{goal:g} {unit}"
        lines.append(f"{name:<44}{shown:>12}{goal_text:>10}  {'✓' if value <= goal else '✗'}")

    row("launch to first rows painted", results["launch"], GOALS["launch"], "s")
    lines.append(f"{'  heavy modules loaded (must be none)':<44}"
                 f"{', '.join(results['heavy']) or 'none':>12}")
    for name, seconds in results["filter"].items():
        row(f"switch filter → {name}", seconds, GOALS["filter"])
    fetch = results["fetch"]
    row(f"fetchMore, median of {len(fetch)}", _median(fetch), GOALS["fetch"])
    row(f"fetchMore, 90th percentile of {len(fetch)}", _quantile(fetch, 0.9), GOALS["fetch"])
    row(f"fetchMore, worst of {len(fetch)}", max(fetch), GOALS["fetch"])
    lines.append(f"{'  rows held at the end':<44}{results['rows_held']:>12,}")
    commit = results["commit"]
    row(f"commit + next shown, median of {len(commit)}", _median(commit), GOALS["commit"])
    row(f"commit + next shown, 90th percentile of {len(commit)}", _quantile(commit, 0.9),
        GOALS["commit"])
    row(f"commit + next shown, worst of {len(commit)}", max(commit), GOALS["commit"])
    lines.append(f"{'  longest garbage collection during commits':<44}"
                 f"{results['gc_max'] * 1000:>9.1f} ms")
    burst = results.get("burst_applied")
    if burst is not None:
        lines.append(f"{'burst of accept keys: applied, in order':<44}"
                     f"{burst:>9} {'yes' if results['burst_in_order'] else 'NO':>3}"
                     f"{'all':>9}  {'✓' if results['burst_in_order'] else '✗'}")
        lines.append(f"{'  applied twice (must be 0)':<44}{results['burst_twice']:>12}")
        lines.append(f"{'  burst until the last is written and shown':<44}"
                     f"{results['burst_s'] * 1000:>9.0f} ms")
    row("peak RSS of the app process", results["rss_mb"], GOALS["rss_mb"], "MB")
    return "\n".join(lines)


def token_estimates() -> str:
    """``approximate_tokens`` against the bundled Gemma tokenizer, on the same texts."""
    import random
    import string

    from policy_desktop.engine.prompts import DEFAULT_PROMPT_VERSION, PromptCatalog, load_policy
    from policy_desktop.export.token_budget import GgufTokenCounter, approximate_tokens

    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    rng = random.Random(5)
    words = ("within", "normal", "duties", "the", "deploy-bot", "rotates", "keys",
             "2026-02-01", "ticket", "#4411", "approved")
    texts = {
        "policy + instructions": f"{load_policy()}\n\n## Instructions\n{version.instructions}",
        "English note, 20,000 characters": " ".join(rng.choice(words) for _ in range(2200)),
        "random hexadecimal, 2,000": "".join(rng.choice(string.hexdigits) for _ in range(2000)),
        "German sentence x20": "Zugriff auf Dokumente für Mitglieder ist erlaubt. " * 20,
    }
    counter = GgufTokenCounter()
    try:
        real = counter(list(texts.values()))
    finally:
        counter.close()
    lines = ["", "Few-shot token budget: estimate vs the Gemma 3 tokenizer (same texts)",
             f"{'text':<36}{'tokenizer':>10}{'estimate':>10}{'ratio':>8}  ok", "-" * 70]
    for (name, text), tokens in zip(texts.items(), real, strict=True):
        estimate = approximate_tokens(text)
        lines.append(f"{name:<36}{tokens:>10,}{estimate:>10,}{estimate / tokens:>8.2f}  "
                     f"{'✓' if estimate >= tokens else '✗'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fetches", type=int, default=200)
    parser.add_argument("--reviews", type=int, default=20)
    parser.add_argument("--burst", type=int, default=10, help="accept keys in one burst")
    parser.add_argument("--no-tokens", action="store_true",
                        help="skip the token estimate check (it loads the GGUF vocabulary)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "policy-desktop-bench")
    parser.add_argument("--raw", action="store_true", help="also print every timing")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.fetches, args.reviews, args.burst)))
        return 0
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    database = args.cache_dir / f"gui-{args.rows}.db"
    build_s = None
    if not database.exists():
        print(f"Building {database} ({args.rows:,} decisions, once)…", file=sys.stderr)
        build_s = build_database(database, args.rows)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(database), "--fetches", str(args.fetches),
         "--reviews", str(args.reviews), "--burst", str(args.burst)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")})
    if child.returncode != 0 or not child.stdout.strip():
        print(child.stderr, file=sys.stderr)
        return child.returncode
    results = json.loads(child.stdout.strip().splitlines()[-1])
    print(report(args.rows, build_s, results))
    if not args.no_tokens:
        print(token_estimates())
    if args.raw:
        print(json.dumps({k: results[k] for k in ("fetch", "commit")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
