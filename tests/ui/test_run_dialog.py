"""The run dialog: choosing what to run, a real run followed live, errors, closing mid-run."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from policy_desktop.engine.prompts import FewShotExample, PromptCatalog, format_examples
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.ui.run_dialog import RunDialog
from policy_desktop.ui.run_worker import RunController
from policy_desktop.ui.settings import Settings


@pytest.fixture
def dialog(controller: RunController, tmp_path: Path, qtbot: QtBot,
           ui_db: str) -> RunDialog:
    dialog = RunDialog(controller, Settings(tmp_path / "settings.ini"), str(ui_db))
    qtbot.addWidget(dialog)
    return dialog


@pytest.fixture
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []

    def record(kind: str):
        def show(parent: object, title: str, text: str, *args: object) -> object:
            shown.append((title, text))
            return QMessageBox.StandardButton.Yes
        return show

    for kind in ("critical", "information", "question", "warning"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(record(kind)))
    return shown


def test_created_prompt_version_is_offered(controller: RunController, tmp_path: Path,
                                           qtbot: QtBot, ui_db: str) -> None:
    examples = tmp_path / "fewshot_examples.txt"
    examples.write_text(format_examples([FewShotExample(
        situation={"actor": "ann", "role": "guest", "action": "write", "target": "src/x.py"},
        team_context=None, decision="deny", classification="role_violation",
        risk_level="medium", reasoning="Guests only read public docs.")]), encoding="utf-8")
    PromptCatalog().create("v3_reviewed", examples)
    dialog = RunDialog(controller, Settings(tmp_path / "s.ini"), str(ui_db))
    qtbot.addWidget(dialog)
    assert "v3_reviewed" in dialog.prompt_versions()
    assert dialog.prompt_versions()[0] == "v2_fewshot_8examples"


def test_subset_and_modes_build_the_right_job(dialog: RunDialog) -> None:
    job = dialog.build_job()
    assert job is not None
    assert [s.scenario_id for s in job.scenarios] == ["E01", "E02", "M01"]
    dialog.select_full()
    assert len(dialog.build_job().scenarios) == 8  # type: ignore[union-attr]
    dialog.select_subset(["H02", "E03"])
    job = dialog.build_job()
    assert job is not None and {s.scenario_id for s in job.scenarios} == {"E03", "H02"}
    assert job.tags == ("subset",)


def test_nothing_ticked_explains_instead_of_running(dialog: RunDialog,
                                                    message_boxes: list[tuple[str, str]]) -> None:
    dialog.select_subset([])
    dialog.start_run()
    assert message_boxes and "scenario" in message_boxes[0][1].lower()


def test_broken_model_file_is_named_in_a_dialog(dialog: RunDialog, tmp_path: Path,
                                                message_boxes: list[tuple[str, str]],
                                                log: PolicyDecisionLog) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    dialog._model_path = broken  # as if the file broke after it was chosen
    dialog.start_run()
    assert message_boxes and str(broken) in message_boxes[0][1]
    assert not dialog._controller.running
    assert log.get_all_decisions() == []


def test_invalid_suite_file_is_reported_and_the_old_suite_kept(
        dialog: RunDialog, tmp_path: Path, message_boxes: list[tuple[str, str]]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[scenario]]\nid = 3\n")
    assert not dialog.load_suite_file(bad)
    assert str(bad) in message_boxes[0][1]
    assert len(dialog.build_job().scenarios) == 3  # type: ignore[union-attr]


@pytest.mark.slow
def test_real_run_streams_lists_results_and_offers_failures(
        dialog: RunDialog, log: PolicyDecisionLog, qtbot: QtBot, tmp_path: Path) -> None:
    dialog.select_subset(["E02"])
    dialog.show()
    qtbot.mouseClick(dialog._start, Qt.MouseButton.LeftButton)
    # Mid-run: the answer streams in while the run goes on (worker signals are queued to
    # the dialog, so waiting on the dialog's own state is what a user sees).
    qtbot.waitUntil(lambda: '"decision"' in dialog._stream.toPlainText(), timeout=240_000)
    assert dialog._controller.running
    assert dialog.grab().save(str(tmp_path / "run-dialog-mid-run.png"))
    qtbot.waitUntil(lambda: "pass rate" in dialog._summary.text(), timeout=240_000)
    assert not dialog._controller.running
    assert dialog._results.rowCount() == 1
    assert dialog._results.item(0, 0).text() == "E02"
    [decision] = log.get_all_decisions()
    assert decision.full_response and decision.full_response in dialog._stream.toPlainText()
    with qtbot.waitSignal(dialog.review_failures_requested) as requested:
        qtbot.mouseClick(dialog._review, Qt.MouseButton.LeftButton)
    assert requested.args == [decision.run_id]


@pytest.mark.slow
def test_closing_mid_run_asks_then_cancels_cleanly(
        dialog: RunDialog, log: PolicyDecisionLog, qtbot: QtBot,
        message_boxes: list[tuple[str, str]]) -> None:
    dialog.select_subset(["E02", "E01"])
    dialog.show()
    dialog.start_run()
    qtbot.waitUntil(lambda: '"decision"' in dialog._stream.toPlainText(), timeout=240_000)
    dialog.close()
    qtbot.waitUntil(lambda: not dialog._controller.running, timeout=60_000)
    assert message_boxes[0][0] == "Cancel the run?"
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert log.list_runs()[0].status == "cancelled"
    assert len(log.get_all_decisions()) <= 1


def test_context_size_goes_into_the_job_and_the_settings(dialog: RunDialog) -> None:
    assert dialog._context.value() == dialog._settings.context_size == 4096
    dialog._context.setValue(8192)
    job = dialog.build_job()
    assert job is not None and job.n_ctx == 8192
    assert dialog._settings.context_size == 8192


@pytest.mark.slow
def test_a_fine_tuned_model_runs_with_its_adapter_and_is_logged_under_its_name(
        tmp_path: Path, qtbot: QtBot, ui_db: str) -> None:
    import fake_model_servers as fakes

    from policy_desktop.engine.bundled_model import bundled_model_path
    from policy_desktop.engine.model_process import ModelProcess
    from policy_desktop.finetune.base_model import file_sha256
    from policy_desktop.finetune.registry import ModelRegistry

    base = bundled_model_path()
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"adapter weights")
    ModelRegistry().register("policy-tuned", adapter, {
        "base_model": {"path": str(base), "sha256": file_sha256(base), "name": "Gemma 3 270m",
                       "quantization": "Q4_K_M"},
        "prompt_version": "v2_fewshot_8examples", "adapter": {"rank": 8, "alpha": 16.0}})
    loaded: list[object] = []

    def factory(settings, on_status):  # type: ignore[no-untyped-def]
        loaded.append(settings)
        return ModelProcess(settings, on_status=on_status, target=fakes.answers)

    controller = RunController(model_factory=factory)
    try:
        dialog = RunDialog(controller, Settings(tmp_path / "s.ini"), str(ui_db))
        qtbot.addWidget(dialog)
        dialog.select_tuned_model("policy-tuned")
        assert "policy-tuned" in dialog._model_label.text()
        dialog.select_subset(["E01"])
        dialog.start_run()
        qtbot.waitUntil(lambda: "pass rate" in dialog._summary.text(), timeout=240_000)
    finally:
        assert controller.shutdown()
    [settings] = loaded
    assert settings.model_path == base  # type: ignore[attr-defined]
    assert settings.lora_path.read_bytes() == b"adapter weights"  # type: ignore[attr-defined]
    with PolicyDecisionLog(ui_db) as log:
        [decision] = log.get_all_decisions()
        [run] = log.list_runs()
    assert decision.model_name == run.model_name == "Gemma 3 270m + policy-tuned"
    assert decision.model_version.startswith("Q4_K_M lora:")


def test_a_server_endpoint_and_its_slots_go_into_the_job(dialog: RunDialog) -> None:
    assert dialog.build_job().endpoint is None  # type: ignore[union-attr]
    dialog._endpoint.setText(" http://127.0.0.1:8080 ")
    dialog._parallel.setValue(4)
    job = dialog.build_job()
    assert job is not None and (job.endpoint, job.parallel) == ("http://127.0.0.1:8080", 4)
