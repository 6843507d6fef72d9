"""The run worker on its QThread: real runs with the bundled model, cancel, broken model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from thread_signals import GuiRelay

from policy_desktop.engine.prompts import PromptCatalog, load_policy
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.run_worker import RunController, RunJob


def _job(log: PolicyDecisionLog, ids: list[str], model_path: Path | None = None) -> RunJob:
    suite = load_suite()
    return RunJob(database=log.target.location, scenarios=tuple(suite.select(only=ids)),
                  prompt_version=PromptCatalog().get("v2_fewshot_8examples"),
                  policy=load_policy(), model_path=model_path, suite_path=suite.path,
                  tags=("subset",))


def test_broken_model_file_fails_with_its_name(controller: RunController, tmp_path: Path,
                                               log: PolicyDecisionLog, qtbot: QtBot) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00 truncated")
    failed = GuiRelay(controller.worker.failed)
    with qtbot.waitSignal(failed.arrived, timeout=30_000):
        controller.start(_job(log, ["E01"], broken))
    assert str(broken) in failed.calls[0][0]
    qtbot.waitUntil(lambda: not controller.running)  # queued to the GUI thread
    assert log.get_all_decisions() == []


@pytest.mark.slow
def test_real_run_emits_signals_in_order_and_logs(controller: RunController, log: PolicyDecisionLog,
                                                  qtbot: QtBot) -> None:
    events: list[str] = []
    pieces: list[str] = []
    worker = controller.worker
    worker.started.connect(lambda run_id, total: events.append(f"started {total}"))
    worker.scenario_started.connect(lambda i, total, sid, _: events.append(f"scenario {sid}"))
    worker.text_generated.connect(pieces.append)
    worker.decision_logged.connect(lambda result: events.append(f"logged {result.decision_id}"))
    worker.finished.connect(lambda summary: events.append(f"finished {summary.status}"))
    finished = GuiRelay(worker.finished)
    with qtbot.waitSignal(finished.arrived, timeout=240_000):
        controller.start(_job(log, ["E02"]))
    [decision] = log.get_all_decisions()
    assert events == ["started 1", "scenario E02", f"logged {decision.decision_id}",
                      "finished completed"]
    assert "".join(pieces) == decision.full_response
    assert log.list_runs()[0].status == "completed"

    # The model stays loaded: a second run reuses it (no "Loading" status message).
    statuses: list[str] = []
    worker.status.connect(statuses.append)
    qtbot.waitUntil(lambda: not controller.running)
    with qtbot.waitSignal(finished.arrived, timeout=240_000):
        controller.start(_job(log, ["E01"]))
    assert not any("Loading" in text for text in statuses)
    assert len(log.get_all_decisions()) == 2


@pytest.mark.slow
def test_cancel_mid_run_keeps_what_finished(controller: RunController, log: PolicyDecisionLog,
                                            qtbot: QtBot) -> None:
    worker = controller.worker
    logged: list[object] = []
    worker.decision_logged.connect(logged.append)
    # Cancel as soon as the second scenario starts streaming.
    worker.scenario_started.connect(lambda index, *_: controller.cancel() if index == 1 else None)
    cancelled = GuiRelay(worker.cancelled)
    with qtbot.waitSignal(cancelled.arrived, timeout=240_000):
        controller.start(_job(log, ["E02", "E01", "M01"]))
    summary = cancelled.calls[0][0]
    assert summary.status == "cancelled"
    assert len(logged) == 1 == len(log.get_all_decisions())
    assert log.list_runs()[0].status == "cancelled"
    qtbot.waitUntil(lambda: not controller.running)
