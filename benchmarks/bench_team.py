"""A review team on one server (issue 14): reviewer processes on the shared queue, and
bulk logging against raw psycopg2.

Run: ``.venv/bin/python benchmarks/bench_team.py [--db postgresql://...] [--seconds 20]
[--reviewers 2,4,8] [--part reviewers|bulk|all]`` (default ``--db``:
``$POLICY_DESKTOP_TEST_DB``; ``tools/pg_test_server.sh start`` makes a server; without
one only SQLite's reviewer part runs).

Reviewers: for each backend (a SQLite file, and a fresh database on the server) and
each N, N real processes claim decisions from one queue (batches of 5, 10 % overlap
sample) and save a random answer for each, all for ``--seconds`` (the issue asks for
60; the default 20 keeps the shared machine usable). Reported: reviews per second in
total, decisions reviewed twice outside the overlap sample (goal 0), lost reviews
(saved by a process but not in the history; goal 0), decisions whose columns disagree
with their history (goal 0), claims lost to a lapsed lease, p50/p95 claim latency.

Bulk: the same ``--rows`` decisions (ids and timestamps set) go through
``PolicyDecisionLog.log_decisions`` into one fresh database and through raw
``psycopg2.extras.execute_values`` (same INSERT, same batch size, JSON serialisation in
the timed part) into another; the two runs alternate ``--repeat`` times and the best of
each is compared. Goal: raw_time / store_time >= 0.5.

Figures (``--part figures``): ``--decisions`` decisions, each reviewed by one of four
reviewers, the overlap sample (``--overlap``) a second time blind, 1 % undone and
reviewed again (written with plain SQL, as the queue would leave them); then the
Statistics tab's team figures (agreement, the adjudication queue's size, each
reviewer's figures) are timed, best of ``--repeat``, on SQLite and on the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).parent))

from bench_store import decisions

from policy_desktop.store import PolicyDecisionLog, mask_passwords
from policy_desktop.store.log import BATCH_SIZE
from policy_desktop.store.schema import ALL_COLUMNS


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on ``server`` (dropped afterwards); yields its URL."""
    import psycopg2

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def raw_rows(items: list[Any]) -> list[list[Any]]:
    """Plain values in column order; dicts and lists still to serialise."""
    rows = []
    for item in items:
        values = [getattr(item, name) for name in ALL_COLUMNS]
        values[ALL_COLUMNS.index("decision_correct")] = (
            None if item.decision_correct is None else int(item.decision_correct))
        values[ALL_COLUMNS.index("reviewed")] = int(item.reviewed)
        values.append(None)  # timestamp_text
        rows.append(values)
    return rows


def time_raw(url: str, insert_sql: str, rows: list[list[Any]]) -> float:
    import psycopg2
    from psycopg2.extras import execute_values

    situation_at, tags_at = ALL_COLUMNS.index("situation"), ALL_COLUMNS.index("tags")
    head = insert_sql.partition(" VALUES ")[0]
    connection = psycopg2.connect(url)
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH_SIZE):
            batch = []
            for values in rows[start:start + BATCH_SIZE]:
                row = list(values)
                row[situation_at] = json.dumps(row[situation_at], ensure_ascii=False)
                row[tags_at] = json.dumps(row[tags_at], ensure_ascii=False)
                batch.append(row)
            execute_values(cursor, f"{head} VALUES %s", batch, page_size=500)
            connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


ANSWERS = ("allow", "deny", "require_attestation", "require_mfa")


def reviewer_worker(location: str, name: str, start_at: float, seconds: float) -> None:
    """One reviewer process: claim, answer, repeat until the time is up; print JSON."""
    import random

    from policy_desktop.store.errors import ClaimLostError
    from policy_desktop.store.review_queue import ReviewQueue

    chooser = random.Random(name)
    saved: list[list[Any]] = []
    latencies: list[float] = []
    lost_claims = 0
    with PolicyDecisionLog(location, create=False) as log:
        queue = ReviewQueue(log)
        time.sleep(max(0.0, start_at - time.time()))
        deadline = time.time() + seconds
        while time.time() < deadline:
            started = time.perf_counter()
            claims = queue.claim(name, 5)
            latencies.append(time.perf_counter() - started)
            if not claims:
                time.sleep(0.02)
                continue
            for claim in claims:
                try:
                    queue.submit(claim, chooser.choice(ANSWERS))
                except ClaimLostError:
                    lost_claims += 1
                    continue
                saved.append([claim.decision_id, claim.slot])
        queue.release(name)
    print(json.dumps({"name": name, "saved": saved, "latencies": latencies,
                      "lost_claims": lost_claims}))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def check_team(location: str, results: list[dict[str, Any]], overlap: float) -> dict[str, int]:
    """Twice outside the overlap sample, lost reviews, columns disagreeing with history."""
    from policy_desktop.store.review_queue import in_overlap

    with PolicyDecisionLog(location, create=False) as log:
        db = log.database
        stacks: dict[str, list[tuple[Any, ...]]] = {}
        everyone: dict[str, list[str]] = {}
        for decision_id, reviewer, action, answer in db.execute_sql(
                "SELECT decision_id, reviewer, action, review_decision FROM reviews "
                "ORDER BY decision_id, id"):
            stack = stacks.setdefault(decision_id, [])
            if action == "undo":
                stack.pop()
            else:
                stack.append((reviewer, action, answer))
                everyone.setdefault(decision_id, []).append(reviewer)
        mismatched = 0
        for decision_id, reviewed, reviewer, action, answer in db.execute_sql(
                "SELECT decision_id, reviewed, reviewer, review_action, review_decision "
                "FROM decisions"):
            top = stacks.get(decision_id, [None])[-1] if stacks.get(decision_id) else None
            expected = (1, *top) if top else (0, None, None, None)
            mismatched += (int(reviewed or 0), reviewer, action, answer) != expected
    twice = sum(1 for decision_id, names in everyone.items()
                if len(names) > (2 if in_overlap(decision_id, overlap) else 1))
    in_history = {(d, r) for d, names in everyone.items() for r in names}
    lost = sum(1 for result in results for decision_id, _ in result["saved"]
               if (decision_id, result["name"]) not in in_history)
    return {"twice": twice, "lost": lost, "mismatched": mismatched}


def run_reviewers(location: str, label: str, count: int, seconds: float, decisions_n: int,
                  overlap: float) -> None:
    """One measurement: ``count`` reviewer processes on a fresh queue at ``location``."""
    import subprocess

    from policy_desktop.store.review_queue import ReviewQueue

    with PolicyDecisionLog(location) as log:
        log.log_decisions(decisions(decisions_n, seed=5, reviews=False))
        ReviewQueue(log).set_overlap_percent(overlap)
    start_at = time.time() + 3 + count * 0.5  # every process imported and connected
    processes = [subprocess.Popen(
        [sys.executable, __file__, "--worker", location, f"reviewer{i}", str(start_at),
         str(seconds)], stdout=subprocess.PIPE, text=True) for i in range(count)]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise SystemExit(f"a reviewer process failed ({process.returncode})")
        results.append(json.loads(out))
    checks = check_team(location, results, overlap)
    reviews = sum(len(r["saved"]) for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    print(f"  {label:<10} N={count}  {reviews / seconds:7.1f} reviews/s  "
          f"twice outside overlap {checks['twice']}  lost {checks['lost']}  "
          f"columns≠history {checks['mismatched']}  lapsed claims "
          f"{sum(r['lost_claims'] for r in results)}  claim p50 "
          f"{_percentile(latencies, 0.5) * 1000:.1f} ms  p95 "
          f"{_percentile(latencies, 0.95) * 1000:.1f} ms")


def reviewers_part(args: argparse.Namespace) -> None:
    import tempfile

    counts = [int(n) for n in args.reviewers.split(",")]
    print(f"Reviewer processes on one queue, {args.seconds:g} s each, "
          f"{args.decisions:,} decisions, {args.overlap:g}% overlap sample")
    for count in counts:
        with tempfile.TemporaryDirectory() as folder:
            run_reviewers(str(Path(folder) / "team.db"), "SQLite", count, args.seconds,
                          args.decisions, args.overlap)
        if args.db.startswith("postgres"):
            with fresh_database(args.db) as url:
                run_reviewers(url, "PostgreSQL", count, args.seconds, args.decisions,
                              args.overlap)


def _fill_team(log: PolicyDecisionLog, count: int, overlap: float) -> None:
    """``count`` reviewed decisions as a team of four leaves them (plain SQL, fast)."""
    import random

    from policy_desktop.store.review_queue import ReviewQueue, in_overlap
    from policy_desktop.vocabulary import DECISIONS

    rng = random.Random(7)
    items = list(decisions(count, seed=5, reviews=False))
    log.log_decisions(items)
    queue = ReviewQueue(log)
    queue.set_overlap_percent(overlap)
    names = ["ann", "bob", "carl", "dora"]
    reviews: list[tuple[Any, ...]] = []
    claims: list[tuple[Any, ...]] = []
    second = 0
    for index, item in enumerate(items):
        decision_id, model = item.decision_id, item.decision
        first = names[index % 4]
        moment = 1_770_000_000.0 + index * 30.0

        def stamp(offset: float, base: float = moment) -> str:
            from datetime import UTC, datetime
            return datetime.fromtimestamp(base + offset, UTC).isoformat()

        answer = model if rng.random() < 0.7 else rng.choice(DECISIONS)
        action = "accept" if answer == model else "correct_decision"
        reviews.append((decision_id, first, action, answer, stamp(0)))
        if rng.random() < 0.01:
            reviews.append((decision_id, first, "undo", None, stamp(5)))
            reviews.append((decision_id, first, action, answer, stamp(9)))
        shared = in_overlap(str(decision_id), overlap)
        claims.append((decision_id, 0, first, int(shared), moment, moment + 300, 1))
        if shared:
            other = names[(index + 1 + second % 3) % 4]
            second += 1
            theirs = answer if rng.random() < 0.8 else rng.choice(DECISIONS)
            reviews.append((decision_id, other, "accept" if theirs == model
                            else "correct_decision", theirs, stamp(15)))
            claims.append((decision_id, 1, other, 1, moment, moment + 300, 1))
    p = log.database.param
    with log.write_transaction():
        cursor = log.database.cursor()
        cursor.executemany(
            "INSERT INTO reviews (decision_id, reviewer, action, review_decision, timestamp) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})", reviews)
        cursor.executemany(
            "INSERT INTO review_claims (decision_id, slot, reviewer, overlap, claimed, "
            f"expires, done) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})", claims)
        log.database.execute_sql("UPDATE decisions SET reviewed = 1")


def _time_figures(log: PolicyDecisionLog, label: str, repeat: int) -> None:
    from policy_desktop.store.team import ReviewTeam

    parts = {
        "agreement": lambda team: team.agreement(),
        "disagreements": lambda team: len(team.disagreements()),
        "reviewer figures": lambda team: team.reviewer_figures(),
    }
    try:
        from policy_desktop.store.team_statistics import collect_team_statistics
        parts["whole tab (team part)"] = lambda team: collect_team_statistics(team.log)
    except ImportError:
        pass
    for name, part in parts.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            part(ReviewTeam(log))
            times.append(time.perf_counter() - started)
        print(f"  {label:<10}  {name:<22}  {min(times) * 1000:8.0f} ms")


def figures_part(args: argparse.Namespace) -> None:
    import tempfile

    print(f"Team figures of {args.decisions:,} reviewed decisions, {args.overlap:g}% overlap "
          f"sample, four reviewers (best of {args.repeat})")
    with tempfile.TemporaryDirectory() as folder, PolicyDecisionLog(
            str(Path(folder) / "figures.db")) as log:
        _fill_team(log, args.decisions, args.overlap)
        _time_figures(log, "SQLite", args.repeat)
    if args.db.startswith("postgres"):
        with fresh_database(args.db) as url, PolicyDecisionLog(url) as log:
            _fill_team(log, args.decisions, args.overlap)
            _time_figures(log, "PostgreSQL", args.repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("POLICY_DESKTOP_TEST_DB", ""),
                        help="a PostgreSQL URL whose user may create databases")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--part", choices=("reviewers", "bulk", "figures", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--reviewers", default="2,4,8", help="reviewer process counts")
    parser.add_argument("--decisions", type=int, default=20_000,
                        help="decisions in each reviewer queue")
    parser.add_argument("--overlap", type=float, default=10.0, help="overlap sample in %%")
    args = parser.parse_args()
    if args.part == "figures":
        figures_part(args)
        return 0
    if args.part in ("reviewers", "all"):
        reviewers_part(args)
    if args.part == "reviewers":
        return 0
    if not args.db.startswith("postgres"):
        print("bench_team: no PostgreSQL server for the bulk part (--db or "
              "POLICY_DESKTOP_TEST_DB; tools/pg_test_server.sh start makes one)",
              file=sys.stderr)
        return 2
    items = list(decisions(args.rows, seed=3, reviews=False))
    rows = raw_rows(items)
    store_times, raw_times = [], []
    for _ in range(args.repeat):
        with fresh_database(args.db) as url, PolicyDecisionLog(url) as log:
            insert_sql = log._insert_sql
            copies = [type(item)(**item.__dict__) for item in items]
            started = time.perf_counter()
            assert log.log_decisions(copies) == args.rows
            store_times.append(time.perf_counter() - started)
        with fresh_database(args.db) as url:
            PolicyDecisionLog(url).close()  # the same schema and indexes
            raw_times.append(time_raw(url, insert_sql, rows))
    store_s, raw_s = min(store_times), min(raw_times)
    ratio = raw_s / store_s
    print(f"Bulk logging of {args.rows:,} decisions on {mask_passwords(args.db)} "
          f"(best of {args.repeat}, alternating)")
    print(f"  raw execute_values  : {raw_s:7.2f} s  ({args.rows / raw_s:>9,.0f}/s)")
    print(f"  PolicyDecisionLog   : {store_s:7.2f} s  ({args.rows / store_s:>9,.0f}/s)")
    print(f"  ratio raw/store     : {ratio:7.2f}    (goal >= 0.50) "
          f"{'ok' if ratio >= 0.5 else 'MISSED'}")
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        reviewer_worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())
