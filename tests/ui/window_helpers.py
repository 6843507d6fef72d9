"""Helpers shared by the main-window tests (data, waiting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.main_window import MainWindow

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"
WAIT_MS = 5000


def make_decision(number: int = 0, **changes: Any) -> PolicyDecision:
    """A decision with plausible values; ``number`` spreads timestamps and confidences."""
    values: dict[str, Any] = {
        "situation": {"actor": f"actor{number:03d}", "role": "member", "action": "read",
                      "target": f"docs/page{number:03d}.md", "trust_score": 0.8,
                      "mfa_verified": True, "time": "Tuesday 10:30"},
        "model_name": "gemma-3-270m", "model_version": "Q4_K_M",
        "prompt_version": "v2_fewshot_8examples", "decision": "allow",
        "reasoning": f"Members may read documentation ({number}).",
        "expected_decision": "allow", "decision_correct": True, "reasoning_coverage": 0.75,
        "confidence": round(0.5 + (number % 50) / 100, 2), "scenario_id": "E01",
        "timestamp": f"2026-02-02T08:{number // 60 % 60:02d}:{number % 60:02d}.{number:06d}+00:00",
    }
    values.update(changes)
    return PolicyDecision(**values)


def fill(path: Path | str, count: int, **changes: Any) -> list[str]:
    """Log ``count`` decisions into the log at ``path`` (a SQLite file or a server URL);
    return their ids, oldest first."""
    with PolicyDecisionLog(path) as log:
        decisions = [make_decision(number, **changes) for number in range(count)]
        log.log_decisions(decisions)
    return [d.decision_id for d in decisions if d.decision_id]


def wait_idle(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until the database and import threads delivered everything asked so far."""
    qtbot.waitUntil(lambda: window.executor.idle and not window.model.loading
                    and not window.importing, timeout=WAIT_MS)


def selected_id(window: MainWindow) -> str | None:
    """The decision id of the window's selected row."""
    return window.selected_decision_id()
