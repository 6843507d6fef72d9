"""Screenshots of the Statistics tab's team figures at 1280x800 (demo data).

Run: ``.venv/bin/python tools/screenshot_team_statistics.py docs/screenshots`` — writes
``statistics-team-agreement.png`` and ``statistics-team-reviewers.png``. Four reviewers
work a 15 % overlap sample through the real queue; review times are then spread over
weekly sessions (the queue stamps "now"), so the pace and the months look real.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.assignments import Assignments
from policy_desktop.store.queries import DecisionFilter
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.store.team_statistics import TeamStatisticsData, collect_statistics_with_team
from policy_desktop.ui.statistics_view import StatisticsView
from policy_desktop.ui.theme import Theme

NAMES = ["Amara Singh", "Ben Hughes", "Chen Wei", "Dana Okafor"]
KINDS = ["allow"] * 5 + ["deny"] * 3 + ["require_mfa"] * 2 + ["require_attestation"] * 2
START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def demo_team(path: Path) -> TeamStatisticsData:
    """A log worked by a team of four; return the tab's data."""
    rng = random.Random(11)
    with PolicyDecisionLog(str(path)) as log:
        items = []
        for i in range(560):
            kind = rng.choice(KINDS)
            expected = kind if rng.random() < 0.7 else rng.choice(KINDS)
            items.append(PolicyDecision(
                situation={"actor": f"user{i}", "action": "read"}, model_name="gemma-3-270m",
                model_version="Q4_K_M", prompt_version="v2", decision=kind, reasoning="…",
                expected_decision=expected, decision_correct=kind == expected,
                timestamp=(START + timedelta(minutes=7 * i)).isoformat()))
        log.log_decisions(items)
        queue = ReviewQueue(log)
        queue.set_overlap_percent(15)
        Assignments(log).assign("Dana Okafor", DecisionFilter(decision="require_attestation"),
                                by="lead")
        truth: dict[str, str] = {}
        for _ in range(60):
            for name in NAMES:
                for claim in queue.claim(name, 2):
                    shown = claim.decision
                    base = truth.setdefault(claim.decision_id,
                                            shown.expected_decision or shown.decision)
                    answer = base if rng.random() < 0.82 else rng.choice(KINDS)
                    queue.submit(claim, answer,
                                 "Corrected." if answer != shown.decision else None)
        for name in NAMES:
            queue.release(name)
        rows = log.database.execute_sql("SELECT id FROM reviews ORDER BY id").fetchall()
        p = log.database.param
        for index, (review_id,) in enumerate(rows):
            session, step = divmod(index, 48)  # weekly sessions, a review every few seconds
            moment = START + timedelta(days=7 * session, seconds=12 * step + rng.randint(0, 8))
            log.database.execute_sql(f"UPDATE reviews SET timestamp = {p} WHERE id = {p}",
                                     (moment.isoformat(), review_id))
        Assignments(log).assign("Chen Wei", DecisionFilter(decision="deny"), by="lead")
        Assignments(log).assign("Ben Hughes", DecisionFilter(decision="require_mfa"),
                                by="lead", limit=9)
        return collect_statistics_with_team(log)


def main(out: Path) -> int:
    app = QApplication([])
    Theme("light").apply(app)
    view = StatisticsView()
    view.resize(1280, 800)
    view.set_data(demo_team(Path(tempfile.mkdtemp()) / "team.db"))
    view.show()
    scroll = view.findChild(QScrollArea)
    assert scroll is not None
    out.mkdir(parents=True, exist_ok=True)

    def shoot(widget: QWidget, name: str) -> None:
        for _ in range(5):
            app.processEvents()
        top = widget.mapTo(scroll.widget(), widget.rect().topLeft()).y()
        scroll.verticalScrollBar().setValue(max(0, top - 16))
        for _ in range(5):
            app.processEvents()
        view.grab().save(str(out / name))
        print(out / name)

    shoot(view.agreement, "statistics-team-agreement.png")
    shoot(view.reviewers_card, "statistics-team-reviewers.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
