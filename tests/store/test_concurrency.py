"""One writer thread and reader threads on one database file: no errors, right totals."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from store_helpers import make_decision

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.queries import DecisionFilter, DecisionQueries

BATCHES = 20
BATCH = 50


def _guarded(errors: list[str], body: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            body()
        except BaseException:
            errors.append(traceback.format_exc())

    return run


def test_writer_and_readers(db_path: Path) -> None:
    shared = PolicyDecisionLog(db_path)
    done = threading.Event()
    errors: list[str] = []
    reads = {"shared": 0, "own": 0}
    snapshots: list[dict[str, int]] = []

    def write() -> None:
        try:
            for batch in range(BATCHES):
                decisions = [make_decision(batch * BATCH + i, decision="allow")
                             for i in range(BATCH)]
                assert shared.log_decisions(decisions) == BATCH
                for decision in decisions[:10]:
                    if int(decision.situation["context"]["hour"]) % 2:
                        shared.mark_reviewed(decision.decision_id or "", "deny", None, "w")
                    else:
                        shared.mark_reviewed(decision.decision_id or "")
                shared.undo_review(decisions[0].decision_id or "")
                shared.mark_reviewed(decisions[0].decision_id or "", reviewer="again")
        finally:
            shared.close()
            done.set()

    def read_shared() -> None:
        queries = DecisionQueries(shared)
        while not done.is_set():
            stats = shared.get_statistics()
            assert stats["total"] % BATCH == 0  # a batch is one transaction
            assert stats["corrections"] <= stats["reviewed"] <= stats["total"]
            snapshots.append({k: stats[k] for k in ("total", "reviewed", "corrections")})
            shared.get_unreviewed_decisions(limit=20)
            shared.get_incorrect_decisions(limit=20)
            rows, _ = queries.page(DecisionFilter(view="unreviewed"), limit=30)
            assert all(not row.reviewed for row in rows)
            counts = queries.view_counts(DecisionFilter())
            assert counts["reviewed"] + counts["unreviewed"] == counts["all"]
            reads["shared"] += 1
        shared.close()

    def read_own() -> None:
        with PolicyDecisionLog(db_path, create=False) as own:
            while not done.is_set():
                for decision in own.get_all_decisions(limit=5):
                    assert own.get_decision(decision.decision_id or "") is not None
                own.get_corrections()
                reads["own"] += 1

    threads = [threading.Thread(target=_guarded(errors, body))
               for body in (write, read_shared, read_own)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == [], "\n".join(errors)
    assert reads["shared"] > 0 and reads["own"] > 0
    assert time.monotonic() - started < 60

    with PolicyDecisionLog(db_path) as log:
        stats = log.get_statistics()
        assert stats["total"] == BATCHES * BATCH
        assert stats["reviewed"] == BATCHES * 10
        corrections = sum(1 for batch in range(BATCHES) for i in range(1, 10)
                          if (batch * BATCH + i) % 24 % 2)
        assert stats["corrections"] == corrections
        assert log.models.Review.select().count() == BATCHES * 12
    totals = [snapshot["total"] for snapshot in snapshots]
    assert totals == sorted(totals)  # readers never saw the log shrink


def test_two_writer_threads_wait_for_each_other(db_path: Path) -> None:
    """Writers from two connections queue on the busy timeout instead of failing."""
    PolicyDecisionLog(db_path).close()
    errors: list[str] = []

    def write(offset: int) -> Callable[[], None]:
        def body() -> None:
            with PolicyDecisionLog(db_path) as log:
                for batch in range(10):
                    ids = [log.log_decision(make_decision(offset + batch * 10 + i))
                           for i in range(10)]
                    for decision_id in ids[:3]:
                        log.mark_reviewed(decision_id, "deny")
        return _guarded(errors, body)

    threads = [threading.Thread(target=write(offset)) for offset in (0, 1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], "\n".join(errors)
    with PolicyDecisionLog(db_path) as log:
        stats = log.get_statistics()
        assert (stats["total"], stats["reviewed"]) == (200, 60)
