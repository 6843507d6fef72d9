"""Time the Statistics tab's figures with and without replay answers, and the exact-id filter.

Run: ``.venv/bin/python benchmarks/bench_replay_statistics.py [--rows 1000000]
[--replay-answers 1000] [--ids 1000,20000] [--repeat 5]``

On a log of ``--rows`` decisions built as ``bench_store.py`` builds it (about 30%
reviewed, runs of 500):

1. ``collect_statistics`` before any replay (no replay tables: nothing to filter), then
   after a replay run of ``--replay-answers`` answers (its tables created by the replay).
2. The production totals two ways, side by side in one run: what the analytics do (the
   full statistics over the covering index, minus the replay answers read by run), and
   one pass with ``run_id IS NULL OR run_id NOT IN (SELECT run_id FROM replay_runs)``.
3. The confusion matrix with and without the replay answers, and the reviews by type
   with ``NOT IN`` against all minus the replay answers (what the analytics do).
4. The table's exact-id filter (one JSON parameter): the first page and the count for
   each of ``--ids`` random ids; and the first page of ``exclude_replays``.

Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peewee as pw
from bench_store import build_large, timed

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.analytics import (
    _tally,
    collect_statistics,
    confusion_counts,
    corrections_by_type,
    production_statistics,
)
from policy_desktop.store.decision import REVIEW_ACTIONS
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.replay import ReplaySelection, ReplayStore
from policy_desktop.store.replay_answers import replay_condition


def add_replay(log: PolicyDecisionLog, answers: int) -> str:
    """A replay run answering the newest ``answers`` decisions (deny every time)."""
    Decision = log.models.Decision
    originals = [row[0] for row in Decision.select(Decision.decision_id)
                 .order_by(Decision.timestamp.desc()).limit(answers).tuples()]
    store = ReplayStore(log)
    run = store.create(originals, ReplaySelection(), model_name="candidate",
                       prompt_version="v9")
    for original in originals:
        store.record(run, original, PolicyDecision(
            situation={"actor": "bench"}, model_name="candidate", model_version="Q4",
            prompt_version="v9", decision="deny", reasoning="replayed", tags=["replay"],
            expected_decision="deny", decision_correct=True))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--replay-answers", type=int, default=1000)
    parser.add_argument("--ids", default="1000,20000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_replay_stats_"))
    try:
        path = folder / "decisions.db"
        print(f"building {args.rows:,} decisions: {build_large(path, args.rows):.1f} s")
        with PolicyDecisionLog(path) as log:
            first, median, _ = timed(lambda: collect_statistics(log), args.repeat)
            print(f"collect_statistics, no replay tables: first {first:.0f} ms, "
                  f"median {median:.0f} ms")
            first, median, _ = timed(log.get_statistics, args.repeat)
            print(f"  get_statistics (all decisions):      median {median:.0f} ms")
            add_replay(log, args.replay_answers)
            print(f"added a replay run of {args.replay_answers:,} answers")
            first, median, data = timed(lambda: collect_statistics(log), args.repeat)
            print(f"collect_statistics, with the replay:  first {first:.0f} ms, "
                  f"median {median:.0f} ms (replay answers left out: {data.replays.answers:,};"
                  f" production total {data.statistics['total']:,})")
            D = log.models.Decision
            production = replay_condition(log.database, D, replays=False)
            _, subtract, a = timed(lambda: production_statistics(log)[0], args.repeat)
            _, one_pass, b = timed(lambda: _tally(log, production), args.repeat)
            assert all(a[key] == b[key] for key in ("total", "reviewed", "corrections",
                                                    "evaluated", "correct"))
            print(f"production totals: full minus replay {subtract:.0f} ms; one pass with "
                  f"NOT IN {one_pass:.0f} ms (ratio {one_pass / subtract:.2f}); same numbers")
            unfiltered = D.select(D.expected_decision, D.decision).where(
                D.expected_decision.is_null(False)).group_by(D.expected_decision, D.decision)
            _, plain, _ = timed(lambda: list(unfiltered.tuples()), args.repeat)
            _, filtered, _ = timed(lambda: confusion_counts(log), args.repeat)
            print(f"confusion matrix: unfiltered {plain:.0f} ms; replay answers left out "
                  f"{filtered:.0f} ms (ratio {filtered / plain:.2f})")
            actions = D.select(D.review_action, pw.fn.COUNT(pw.SQL("*"))).where(
                D.review_action.in_(REVIEW_ACTIONS)).group_by(D.review_action)
            _, not_in, _ = timed(lambda: list(actions.where(production).tuples()), args.repeat)
            _, minus, _ = timed(lambda: corrections_by_type(log), args.repeat)
            print(f"reviews by type: NOT IN {not_in:.0f} ms; all minus replay {minus:.0f} ms "
                  f"(ratio {not_in / minus:.2f})")
            queries = DecisionQueries(log)
            everyone = [row[0] for row in D.select(D.decision_id).tuples()]
            rng = random.Random(3)
            for count in (int(value) for value in args.ids.split(",")):
                chosen = tuple(rng.sample(everyone, count))
                flt = DecisionFilter(view="all", decision_ids=chosen)
                _, page_ms, (rows, _) = timed(lambda flt=flt: queries.page(flt), args.repeat)
                _, count_ms, counted = timed(lambda flt=flt: queries.count(flt), args.repeat)
                assert counted == count and len(rows) == min(200, count)
                print(f"decision_ids of {count:,}: first page {page_ms:.1f} ms, "
                      f"count {count_ms:.1f} ms")
            _, all_ms, _ = timed(lambda: queries.page(DecisionFilter(view="all")), args.repeat)
            _, out_ms, _ = timed(lambda: queries.page(
                DecisionFilter(view="all", exclude_replays=True)), args.repeat)
            print(f"first page, all: {all_ms:.1f} ms; exclude_replays: {out_ms:.1f} ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
