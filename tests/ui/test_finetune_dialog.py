"""The fine-tuning dialog on a tiny Gemma 3: typed name, Start, progress, Cancel, resume,
and the registered model afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from thread_signals import GuiRelay

from policy_desktop.finetune.registry import ModelRegistry
from policy_desktop.finetune.settings import TrainSettings
from policy_desktop.ui.finetune_dialog import FinetuneDialog

FINETUNE_TESTS = Path(__file__).parents[1] / "finetune"
TRAINING = 600_000  # ms; a spawned child imports torch first, on a shared machine


def _helper(name: str) -> ModuleType:
    """A helper module of tests/finetune (not on this folder's import path)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FINETUNE_TESTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path, db_path: Path) -> FinetuneDialog:
    _helper("finetune_helpers").reviewed_log(db_path, 50)[0].close()
    tiny = _helper("tiny_gemma")
    base = tiny.write_base_gguf(tiny.tiny_model(), tmp_path / "tiny.gguf")
    settings = TrainSettings(rank=4, alpha=8.0, epochs=1, batch_size=4, threads=1,
                             learning_rate=5e-3)
    # the old side of the comparison uses the short prompt: the tiny vocabulary spells the
    # policy out in more tokens than its context holds
    shown = FinetuneDialog(str(db_path), base_model=base, settings=settings,
                           compare_prompt="v3_tuned_short")
    qtbot.addWidget(shown)
    shown.show()
    return shown


def test_start_needs_a_name(qtbot: QtBot, dialog: FinetuneDialog) -> None:
    dialog.name_edit.clear()
    assert not dialog.start_button.isEnabled()
    qtbot.keyClicks(dialog.name_edit, "x")
    assert dialog.start_button.isEnabled()


def test_train_cancel_resume_and_register(qtbot: QtBot, dialog: FinetuneDialog) -> None:
    worker = dialog.controller.finetune_worker
    statuses: list[str] = []
    worker.status.connect(statuses.append)
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "tiny-ui")
    progress, finished = GuiRelay(worker.progress), GuiRelay(worker.finished)
    with qtbot.waitSignal(progress.arrived, timeout=TRAINING):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.start_button.isEnabled()
    assert "Validation decision accuracy: before" in dialog.validation_label.text()
    with qtbot.waitSignal(finished.arrived, timeout=TRAINING):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.status_label.text().startswith("Cancelled at step ")
    assert ModelRegistry().names() == []
    assert "Training data: 50 reviewed decisions" in dialog.data_label.text()

    with qtbot.waitSignals([dialog.modelRegistered], timeout=TRAINING):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert any(text.startswith("Resuming from step ") for text in statuses)
    assert dialog.status_label.text().startswith("Registered tiny-ui: validation accuracy ")
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 11  # 41 / 4
    assert ModelRegistry().names() == ["tiny-ui"]
    assert not dialog.running and dialog.start_button.isEnabled()


def test_after_training_compare_with_the_old_model_and_offer_the_suite(
        qtbot: QtBot, dialog: FinetuneDialog) -> None:
    import json

    worker = dialog.controller.finetune_worker
    assert not dialog.compare_button.isVisible() and not dialog.suite_button.isVisible()
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "tiny-cmp")
    with qtbot.waitSignals([dialog.modelRegistered], timeout=TRAINING):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.compare_button.isVisible() and dialog.compare_button.isEnabled()
    assert dialog.compare_button.text() == "Compare with the old model on 9 held-out reviews"

    compared = GuiRelay(worker.compared)
    with qtbot.waitSignal(compared.arrived, timeout=TRAINING):
        qtbot.mouseClick(dialog.compare_button, Qt.MouseButton.LeftButton)
        assert dialog.running and not dialog.compare_button.isEnabled()
    assert not dialog.running
    saved = json.loads((ModelRegistry().get("tiny-cmp").folder / "comparison.json")
                       .read_text(encoding="utf-8"))
    record = ModelRegistry().get("tiny-cmp").record
    assert [d["id"] for d in saved["decisions"]] == record["training_data"]["validation_ids"]
    table = dialog.comparison_table
    assert table.isVisible() and table.item(0, 0).text() == "All"
    assert table.item(0, 1).text() == "9"
    overall = saved["overall"]
    assert table.item(0, 2).text() == f"{overall['accuracy_old'] * 100:.1f} %"
    assert table.item(0, 3).text() == f"{overall['accuracy_new'] * 100:.1f} %"
    assert table.item(0, 4).text() == f"{overall['p_value']:.3g}"
    per = saved["per_decision"]
    assert [table.item(r, 0).text() for r in range(1, table.rowCount())] == list(per)
    assert "McNemar exact p = " in dialog.comparison_label.text()
    dialog.grab().save("/tmp/finetune_dialog_compared.png")

    with qtbot.waitSignal(dialog.suiteRequested, timeout=5_000) as asked:
        qtbot.mouseClick(dialog.suite_button, Qt.MouseButton.LeftButton)
    assert asked.args == ["tiny-cmp"]
