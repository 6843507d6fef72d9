"""The window's claims on the team queue (issue 14), on a real database thread: leases
renewed only while the reviewer works, skipped decisions given back and not handed out
again, everything given back on stop."""

from __future__ import annotations

from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.ui.queue_desk import QueueDesk
from policy_desktop.ui.tasks import DbExecutor


def leases(path: str) -> dict[str, float]:
    """Unfinished claims: decision id -> lease end."""
    with PolicyDecisionLog(path) as log:
        rows = log.database.execute_sql(
            "SELECT decision_id, expires FROM review_claims WHERE done = 0").fetchall()
    return {row[0]: float(row[1]) for row in rows}


def started(qtbot: QtBot, executor: DbExecutor, path: str, *, batch: int,
            renew_ms: int = 60_000) -> QueueDesk:
    executor.open(str(path))
    desk = QueueDesk(executor, batch=batch, renew_ms=renew_ms)
    desk.start("ann")
    qtbot.waitUntil(lambda: bool(desk.claims) and executor.idle, timeout=WAIT_MS)
    return desk


def test_leases_are_renewed_while_the_reviewer_works_and_only_then(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 8)
    with PolicyDecisionLog(ui_db) as log:
        ReviewQueue(log).set_overlap_percent(0)
    desk = started(qtbot, executor, ui_db, renew_ms=150, batch=3)
    first = leases(ui_db)
    assert len(first) == 3
    qtbot.wait(400)  # nobody worked: the leases run as they were
    assert leases(ui_db) == first

    desk.done_with(desk.claims[-1].decision_id, skipped=True)  # the reviewer works
    qtbot.waitUntil(lambda: len(leases(ui_db)) == 2, timeout=WAIT_MS)  # skipped: given back
    qtbot.waitUntil(lambda: all(leases(ui_db)[i] > first[i] for i in leases(ui_db)),
                    timeout=WAIT_MS)
    renewed = leases(ui_db)
    qtbot.wait(400)
    assert leases(ui_db) == renewed  # once per bit of work, not forever

    desk.stop()
    qtbot.waitUntil(lambda: executor.idle, timeout=WAIT_MS)
    assert leases(ui_db) == {}


def test_a_skipped_decision_is_not_handed_out_again_in_the_session(
        qtbot: QtBot, executor: DbExecutor, ui_db: str) -> None:
    fill(ui_db, 3)
    with PolicyDecisionLog(ui_db) as log:
        ReviewQueue(log).set_overlap_percent(0)
    desk = started(qtbot, executor, ui_db, batch=1)
    shown: list[object] = []
    desk.current_changed.connect(shown.append)
    skipped = desk.claims[0].decision_id
    desk.done_with(skipped, skipped=True)
    qtbot.waitUntil(lambda: executor.idle and bool(shown), timeout=WAIT_MS)
    assert desk.current is not None and desk.current.decision_id != skipped
    assert skipped not in leases(ui_db)
