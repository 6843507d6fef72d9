"""A review team on one PostgreSQL server (issue 14): bulk logging against raw psycopg2.

Run: ``.venv/bin/python benchmarks/bench_team.py [--db postgresql://...] [--rows 100000]``
(default ``--db``: ``$POLICY_DESKTOP_TEST_DB``; ``tools/pg_test_server.sh start`` makes a
server). The same ``--rows`` decisions (ids and timestamps set) go through
``PolicyDecisionLog.log_decisions`` into one fresh database and through raw
``psycopg2.extras.execute_values`` (same INSERT, same batch size, JSON serialisation in
the timed part) into another; the two runs alternate ``--repeat`` times and the best of
each is compared. Goal: raw_time / store_time >= 0.5.

Not measured yet (the shared review queue, issue 14 item 2, is not built): reviewer
processes claiming decisions, reviews per second, claim latency.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("POLICY_DESKTOP_TEST_DB", ""),
                        help="a PostgreSQL URL whose user may create databases")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not args.db.startswith("postgres"):
        print("bench_team: no PostgreSQL server (--db or POLICY_DESKTOP_TEST_DB; "
              "tools/pg_test_server.sh start makes one)", file=sys.stderr)
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
    sys.exit(main())
