"""Time the decision store: batch logging against raw sqlite3, and the review queries at 1M rows.

Run: ``.venv/bin/python benchmarks/bench_store.py [--rows 1000000] [--log-rows 200000]``

1. Batch logging: the same ``--log-rows`` decisions (ids and timestamps set, so both
   sides store identical rows) through ``PolicyDecisionLog.log_decisions`` and through
   raw ``sqlite3.executemany`` into an empty copy of the same schema (all indexes,
   WAL, ``synchronous=NORMAL``), both serialising ``situation``/``tags`` to JSON in
   the timed part. The raw side is one prepared statement in one transaction: the
   floor. Goal: raw_time / store_time >= 0.5.
2. Queries on a database of ``--rows`` realistic decisions (about 30% reviewed, 20%
   incorrect, mixed decisions, 10% without confidence), built with
   ``import_decisions`` (review state plus one history event each). Each query runs
   once cold(ish) and then ``--repeat`` times; the median is compared with its goal:
   ``get_statistics()`` <= 300 ms, newest 200 unreviewed / incorrect <= 20 ms each.
   The GUI's ``DecisionQueries.page`` (first page and a keyset page ~half-way down) and
   ``view_counts`` are measured too.

3. No decision is lost to an id (issue 11): ``--id-rows`` id-less decisions of one
   minute through ``log_decisions`` and, as JSON lines, through ``policy-desktop
   import``: exactly that many stored; two ``policy-desktop import`` processes of the
   same ``--concurrent-rows``-line file at once: every line stored once, and counted as
   a duplicate once.

Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.database import SQLITE_PRAGMAS
from policy_desktop.store.queries import DecisionFilter, DecisionQueries
from policy_desktop.store.schema import ALL_COLUMNS
from policy_desktop.vocabulary import DECISIONS

_ROLES = ("admin", "maintainer", "member", "contractor", "guest")
_ACTIONS = ("read", "write", "deploy", "delete", "run_migration", "export", "rotate")
_TARGETS = ("docs/guide.md", "services/api/handlers.py", "production/db/orders",
            "secrets/deploy_token", "staging/config.yaml", "audit/logs", "billing/invoices.csv")
_RULES = ("Rule 2: secrets never leave the vault.", "Rule 4: the role does not permit it.",
          "Rule 5: destructive actions are for admins.", "Rule 7: MFA is required for secrets.",
          "Rule 8: off-hours writes need MFA.", "Rule 9: production changes need attestation.",
          "Rule 10: the role permits it.")
_START = datetime(2025, 6, 1, tzinfo=UTC)
_BATCH = 10_000


def _pick(values: tuple[Any, ...] | list[Any], roll: float) -> Any:
    return values[int(roll * len(values))]


def decisions(count: int, seed: int, *, reviews: bool) -> Iterator[PolicyDecision]:
    """``count`` varied decisions, oldest first; with ``reviews`` about 30% are reviewed.

    Situations come from a pool of 4,000 (actors repeat, as in real logs); everything
    else is drawn per decision with plain ``random()`` calls to keep generation cheap.
    """
    rng = random.Random(seed)
    rand = rng.random
    situations = [{
        "actor": f"user{rng.randrange(5000)}", "role": rng.choice(_ROLES),
        "action": rng.choice(_ACTIONS), "target": f"{rng.choice(_TARGETS)}#{rng.randrange(200)}",
        "environment": rng.choice(("development", "staging", "production")),
        "trust_score": round(rand(), 2), "mfa_verified": rand() < 0.7,
    } for _ in range(4_000)]
    expected_pool = ("allow",) * 9 + ("deny",) * 5 + ("require_attestation",) * 3 + (
        "require_mfa",) * 3
    seconds = 0.0
    for index in range(count):
        seconds += -20.0 * math.log(1.0 - rand())  # a decision every ~20 s; some share one
        moment = _START + timedelta(seconds=int(seconds))
        stamp = moment.isoformat(timespec="microseconds")
        expected = _pick(expected_pool, rand())
        roll = rand()
        if roll < 0.02:
            decision, correct = "unparseable", False
        elif roll < 0.20:
            decision, correct = _pick([d for d in DECISIONS if d != expected], rand()), False
        elif roll < 0.9:
            decision, correct = expected, True
        else:
            decision, correct = expected, None  # no expected outcome (ad-hoc question)
        rule = _pick(_RULES, rand())
        situation = _pick(situations, rand())
        confidence = rand()
        item = PolicyDecision(
            situation=situation, team_context="platform team" if index % 3 else None,
            model_name="phi-4-mini" if rand() < 0.4 else "gemma-3-270m", model_version="Q4_K_M",
            prompt_version=_pick(("v1", "v2", "v3"), rand()), decision=decision,
            classification=_pick(("internal", "confidential", "public"), rand()),
            risk_level=_pick(("low", "medium", "high", "critical"), rand()),
            reasoning=f"{rule} The actor is a {situation['role']} acting on "
                      f"{situation['target']} in {situation['environment']}.",
            full_response=f"DECISION: {decision}\nREASONING: {rule}\nCONFIDENCE: high",
            expected_decision=None if correct is None else expected, decision_correct=correct,
            reasoning_coverage=round(rand(), 3), scenario_id=f"S{int(rand() * 40):02d}",
            tags=["bench", f"day-{moment.day}"],
            decision_id=f"dec_{stamp[:13]}{stamp[14:16]}_{rng.getrandbits(32):08x}",
            timestamp=stamp, confidence=None if confidence < 0.1 else round(confidence, 3),
            run_id=f"run_{index // 500:05d}", prompt_tokens=600 + int(rand() * 300),
            generated_tokens=20 + int(rand() * 100), seconds=round(2 + 7 * rand(), 2),
        )
        if reviews and rand() < 0.3:
            item.reviewed = True
            item.review_decision = expected if rand() < 0.5 else decision
            if item.review_decision == "unparseable":
                item.review_decision = expected
            item.review_reasoning = f"Reviewer: {rule}" if rand() < 0.3 else None
            item.review_timestamp = (moment + timedelta(days=1)).isoformat()
            item.reviewer = _pick(("ann", "bob", "cy"), rand())
        yield item


# --- 1. batch logging --------------------------------------------------------------------------


def bench_logging(folder: Path, rows: int) -> tuple[float, float]:
    """Seconds for ``rows`` decisions: (store, raw)."""
    template = folder / "empty.db"
    with PolicyDecisionLog(template) as log:
        insert_sql = log._insert_sql
    items = list(decisions(rows, seed=1, reviews=False))
    situation_at, tags_at = ALL_COLUMNS.index("situation"), ALL_COLUMNS.index("tags")
    correct_at, reviewed_at = ALL_COLUMNS.index("decision_correct"), ALL_COLUMNS.index("reviewed")
    raw_input = []  # plain Python values: dicts/lists still to serialise, booleans as 0/1
    for item in items:
        values = [getattr(item, name) for name in ALL_COLUMNS]
        values[correct_at] = None if item.decision_correct is None else int(item.decision_correct)
        values[reviewed_at] = int(item.reviewed)
        values.append(None)  # timestamp_text: the timestamps are already in canonical form
        raw_input.append(values)

    raw_path = folder / "raw.db"
    shutil.copy(template, raw_path)
    connection = sqlite3.connect(raw_path, isolation_level=None)
    for name, value in SQLITE_PRAGMAS.items():
        connection.execute(f"PRAGMA {name} = {value}")
    started = time.perf_counter()
    connection.execute("BEGIN")

    def serialised() -> Iterator[list[Any]]:
        for values in raw_input:
            row = list(values)
            row[situation_at] = json.dumps(row[situation_at], ensure_ascii=False)
            row[tags_at] = json.dumps(row[tags_at], ensure_ascii=False)
            yield row

    connection.executemany(insert_sql, serialised())
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all rows in the database file
    raw_seconds = time.perf_counter() - started
    connection.close()

    store_path = folder / "store.db"
    shutil.copy(template, store_path)
    with PolicyDecisionLog(store_path) as log:
        started = time.perf_counter()
        stored = log.log_decisions(items)
        log.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        store_seconds = time.perf_counter() - started
    assert stored == rows
    for path in (raw_path, store_path):
        count = sqlite3.connect(path).execute("SELECT count(*) FROM decisions").fetchone()[0]
        assert count == rows, (path, count)
    return store_seconds, raw_seconds


# --- 3. no decision lost to an id ------------------------------------------------------------

_MINUTE = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)


def _one_minute(count: int) -> Iterator[PolicyDecision]:
    """``count`` distinct id-less decisions, all logged within one minute."""
    for index in range(count):
        moment = _MINUTE + timedelta(microseconds=index * 59_000_000 // max(count, 1))
        yield PolicyDecision(
            situation={"actor": f"user{index}", "action": "read", "target": "docs/guide.md"},
            model_name="gemma-3-270m", model_version="Q4_K_M", prompt_version="v2",
            decision="allow", reasoning="Rule 10: the role permits it.",
            timestamp=moment.isoformat(timespec="microseconds"))


def _count(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM decisions").fetchone()[0])
    finally:
        connection.close()


def _import_cli(database: Path, source: Path) -> subprocess.Popen[str]:
    script = Path(sys.executable).parent / "policy-desktop"
    return subprocess.Popen([str(script), "--db", str(database), "import", str(source)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})


def _summary(output: str) -> dict[str, int]:
    last = output.strip().splitlines()[-1]
    return {name: int(value) for name, value in
            (part.rsplit(" ", 1) for part in last.split(", "))}


def bench_ids(folder: Path, rows: int, concurrent_rows: int) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) for id-less logging, import and concurrent imports."""
    checks: list[tuple[str, bool, str]] = []
    logged = folder / "ids_logged.db"
    with PolicyDecisionLog(logged) as log:
        started = time.perf_counter()
        stored = log.log_decisions(_one_minute(rows))
        seconds = time.perf_counter() - started
    found = _count(logged)
    checks.append((f"log_decisions: {rows:,} id-less decisions of one minute",
                   stored == found == rows,
                   f"{found:,} stored in {seconds:.1f} s ({rows / seconds:,.0f}/s)"))
    source = folder / "one_minute.jsonl"
    encode = json.JSONEncoder(ensure_ascii=False).encode
    with open(source, "w", encoding="utf-8") as out:
        for item in _one_minute(rows):
            record = item.to_dict()
            del record["decision_id"]
            out.write(encode(record) + "\n")
    imported_db = folder / "ids_imported.db"
    PolicyDecisionLog(imported_db).close()
    started = time.perf_counter()
    process = _import_cli(imported_db, source)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    totals = _summary(out) if process.returncode == 0 else {}
    found = _count(imported_db)
    checks.append((f"import: {rows:,} id-less lines of one minute",
                   process.returncode == 0 and found == rows == totals.get("imported")
                   and not totals.get("conflicts"),
                   f"{found:,} stored, {totals or err.strip()[-200:]} in {seconds:.1f} s "
                   f"({rows / seconds:,.0f} lines/s)"))
    shared = folder / "concurrent.db"
    PolicyDecisionLog(shared).close()
    lines = folder / "concurrent.jsonl"
    with open(source, encoding="utf-8") as full, open(lines, "w", encoding="utf-8") as part:
        for _, line in zip(range(concurrent_rows), full, strict=False):
            part.write(line)
    started = time.perf_counter()
    processes = [_import_cli(shared, lines) for _ in range(2)]
    outputs = [p.communicate() for p in processes]
    seconds = time.perf_counter() - started
    ok = all(p.returncode == 0 for p in processes)
    results = [_summary(o) for o, _ in outputs] if ok else []
    imported = sum(r["imported"] for r in results)
    duplicates = sum(r["duplicates"] for r in results)
    found = _count(shared)
    checks.append((f"two concurrent imports of one {concurrent_rows:,}-line file",
                   ok and imported == found == concurrent_rows and duplicates == concurrent_rows,
                   f"{found:,} stored, {imported:,} imported + {duplicates:,} duplicates "
                   f"counted in {seconds:.1f} s" if ok else
                   "; ".join(e.strip()[-200:] for _, e in outputs)))
    return checks


# --- 2. queries on a large database -----------------------------------------------------


def build_large(path: Path, rows: int) -> float:
    """Fill ``path`` with ``rows`` decisions and their review events; return seconds.

    The bulk-load way: the indexes are dropped, the rows stored through
    ``import_decisions`` in batches, and reopening the log creates the missing
    indexes again (one sort each instead of a million random B-tree inserts).
    """
    started = time.perf_counter()
    with PolicyDecisionLog(path) as log:
        database = log.database
        for index in database.get_indexes("decisions"):
            if not index.name.startswith("sqlite_autoindex"):
                database.execute_sql(f"DROP INDEX {index.name}")
        batch: list[PolicyDecision] = []
        for item in decisions(rows, seed=2, reviews=True):
            batch.append(item)
            if len(batch) == _BATCH:
                log.import_decisions(batch)
                batch = []
        log.import_decisions(batch)
    with PolicyDecisionLog(path) as log:  # recreates the indexes
        assert len(log.database.get_indexes("decisions")) >= 10
        log.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(first run ms, median of ``repeat`` further runs ms, last result)."""
    started = time.perf_counter()
    result = action()
    first = (time.perf_counter() - started) * 1000
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        runs.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(runs), result


Row = tuple[str, float, float, float | None, str]


def bench_queries(path: Path, repeat: int) -> tuple[list[Row], dict[str, Any]]:
    """(name, first ms, median ms, goal ms or None, note) for each query; the statistics."""
    results: list[Row] = []
    with PolicyDecisionLog(path, create=False) as log:
        queries = DecisionQueries(log)
        unreviewed = DecisionFilter(view="unreviewed")
        deep = log.database.execute_sql(
            "SELECT timestamp, decision_id FROM decisions WHERE reviewed = 0 "
            "ORDER BY timestamp DESC, decision_id DESC LIMIT 1 OFFSET ?",
            (log.get_statistics()["unreviewed"] // 2,)).fetchone()
        least = DecisionFilter(view="unreviewed", sort="least_confident")
        middle_run = f"run_{log.get_statistics()['total'] // 2 // 500:05d}"  # 500 per run
        cases: list[tuple[str, Callable[[], object], float | None]] = [
            ("get_statistics()", log.get_statistics, 300.0),
            ("get_unreviewed_decisions(limit=200)",
             lambda: log.get_unreviewed_decisions(limit=200), 20.0),
            ("get_incorrect_decisions(limit=200)",
             lambda: log.get_incorrect_decisions(limit=200), 20.0),
            ("get_corrections(limit=200)", lambda: log.get_corrections(limit=200), None),
            ("page(unreviewed) first 200", lambda: queries.page(unreviewed, limit=200), None),
            ("page(unreviewed) keyset, half-way",
             lambda: queries.page(unreviewed, after=(deep[0], deep[1]), limit=200), None),
            ("page(unreviewed, least_confident)",
             lambda: queries.page(least, limit=200), None),
            ("page(all, model facet) first 200",
             lambda: queries.page(DecisionFilter(view="all", model_name="phi-4-mini"),
                                  limit=200), None),
            ("page(unreviewed, run facet)",
             lambda: queries.page(DecisionFilter(run_id=middle_run), limit=200), None),
            ("page(incorrect, least_confident)",
             lambda: queries.page(DecisionFilter(view="incorrect", sort="least_confident"),
                                  limit=200), None),
            ("view_counts()", lambda: queries.view_counts(DecisionFilter()), None),
            ("view_counts(decision=deny)",
             lambda: queries.view_counts(DecisionFilter(decision="deny")), None),
            ("count(unreviewed)", lambda: queries.count(unreviewed), None),
            ("facets()", queries.facets, None),
        ]
        for name, action, goal in cases:
            first, median, result = timed(action, repeat)
            note = ""
            if isinstance(result, list):
                note = f"{len(result)} rows"
            elif isinstance(result, tuple):
                note = f"{len(result[0])} rows"
            elif isinstance(result, dict) and "total" in result:
                note = f"total {result['total']:,}"
            elif isinstance(result, dict) and "model_name" in result:
                models, prompts = result["model_name"], result["prompt_version"]
                note = f"{len(models)} models, {len(prompts)} prompts"
            results.append((name, first, median, goal, note))
        stats = log.get_statistics()
    return results, stats


def main() -> int:
    """Run both parts and print a table; exit 1 if a goal was missed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="decisions in the query database (default 1,000,000; 0 skips "
                             "the queries)")
    parser.add_argument("--log-rows", type=int, default=200_000,
                        help="decisions for the logging comparison (default 200,000)")
    parser.add_argument("--id-rows", type=int, default=1_000_000,
                        help="id-less decisions of one minute, logged and imported (default "
                             "1,000,000; 0 skips part 3)")
    parser.add_argument("--concurrent-rows", type=int, default=200_000,
                        help="lines of the file two importers import at once (default 200,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--keep", metavar="FOLDER", help="build in FOLDER and keep it")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench_store_"))
    folder.mkdir(parents=True, exist_ok=True)
    missed = []
    started = time.perf_counter()
    try:
        store_s, raw_s = bench_logging(folder, args.log_rows)
        ratio = raw_s / store_s
        print(f"Batch logging of {args.log_rows:,} decisions (same rows, same schema, JSON "
              "serialisation included)")
        print(f"  raw sqlite3.executemany : {raw_s:7.2f} s  ({args.log_rows / raw_s:>9,.0f}/s)")
        print(f"  PolicyDecisionLog       : {store_s:7.2f} s  "
              f"({args.log_rows / store_s:>9,.0f}/s)")
        print(f"  ratio raw/store         : {ratio:7.2f}    (goal >= 0.50) "
              f"{'ok' if ratio >= 0.5 else 'MISSED'}")
        if ratio < 0.5:
            missed.append("logging ratio")
        if args.id_rows > 0:
            print("\nNo decision lost to an id (exact counts)")
            for name, passed, detail in bench_ids(folder, args.id_rows, args.concurrent_rows):
                print(f"  {name:<50} {'ok' if passed else 'MISSED'}  {detail}")
                if not passed:
                    missed.append(name)
        if args.rows <= 0:
            return 1 if missed else 0
        large = folder / "large.db"
        build_s = build_large(large, args.rows)
        size_mb = large.stat().st_size / 1e6
        print(f"\nQueries on {args.rows:,} decisions (built in {build_s:.1f} s: "
              f"import_decisions, then indexes; {size_mb:,.0f} MB); ms, median of "
              f"{args.repeat} after a first run")
        header = f"  {'query':<38} {'first':>8} {'median':>8} {'goal':>7}  result"
        print(header)
        print("  " + "-" * (len(header) - 2))
        rows, stats = bench_queries(large, args.repeat)
        for name, first, median, goal, note in rows:
            verdict = ""
            if goal is not None:
                verdict = "ok" if median <= goal else "MISSED"
                if median > goal:
                    missed.append(name)
            goal_text = f"{goal:>7.0f}" if goal is not None else f"{'':>7}"
            print(f"  {name:<38} {first:>8.1f} {median:>8.1f} {goal_text}  "
                  f"{note} {verdict}".rstrip())
        total = stats["total"]
        print(f"  ({stats['reviewed'] / total:.0%} reviewed, {stats['incorrect'] / total:.0%} "
              f"incorrect, {stats['corrections']:,} corrections)")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nTotal {time.perf_counter() - started:.0f} s on {sys.platform}, SQLite "
          f"{sqlite3.sqlite_version}.{' Missed: ' + ', '.join(missed) if missed else ''}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
