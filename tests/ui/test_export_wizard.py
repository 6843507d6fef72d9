"""The export wizard: blocked below the gate, Next → Next → Finish exports, closing the loop."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from policy_desktop.engine.prompts import PromptCatalog, parse_examples
from policy_desktop.export.token_budget import approximate_counter
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.export_wizard import ExportWizard, PageId
from policy_desktop.ui.settings import Settings
from policy_desktop.vocabulary import DECISIONS


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic unit vectors (the real MiniLM is exercised in tests/export)."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(16)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows, dtype=np.float32).reshape(len(texts), 16)


def build(path: Path, corrections: int) -> Path:
    log = PolicyDecisionLog(path)
    decisions = [PolicyDecision(
        situation={"actor": f"user{i}", "role": "member", "action": "write",
                   "target": f"repo/file{i}.py", "trust_score": round(0.3 + i / 200, 3)},
        model_name="Gemma 3 270m", model_version="Q4_K_M", prompt_version="v2_fewshot_8examples",
        decision="allow", classification="code_change", risk_level="medium",
        reasoning=f"Members may write code in development ({i}).", expected_decision="deny",
        decision_correct=False) for i in range(corrections + 5)]
    ids = [log.log_decision(d) for d in decisions]
    for i, decision_id in enumerate(ids[:corrections]):
        log.mark_reviewed(decision_id, review_decision=DECISIONS[1 + i % 3],
                          review_reasoning=f"Corrected reasoning number {i} for this change.",
                          reviewer="dana")
    log.close()
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def make_wizard(qtbot: QtBot, settings: Settings) -> Iterator:
    made: list[ExportWizard] = []

    def make(database: Path, corrections: int) -> ExportWizard:
        wizard = ExportWizard(str(database), corrections, settings, embed=fake_embed,
                              count_tokens=approximate_counter)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard

    yield make
    for wizard in made:
        assert wizard.controller.shutdown()


def _click(qtbot: QtBot, wizard: ExportWizard, which: QWizard.WizardButton) -> None:
    button = wizard.button(which)
    assert button.isEnabled() and button.isVisible(), f"{which} not available"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_blocked_at_49_corrections(tmp_path: Path, make_wizard, qtbot: QtBot) -> None:
    wizard = make_wizard(build(tmp_path / "d.db", 49), 49)
    assert wizard.currentId() == PageId.READINESS
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    text = wizard.readiness_page.message.text()
    assert "49 corrections" in text and "1 more needed" in text
    assert wizard.readiness_page.bar.text() == "49 of 50 corrections"


def test_next_next_finish_exports_at_50(tmp_path: Path, make_wizard, qtbot: QtBot,
                                        settings: Settings) -> None:
    database = build(tmp_path / "d.db", 50)
    target = tmp_path / "out" / "training_export"
    wizard = make_wizard(database, 50)
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    wizard.options_page.folder.setText(str(target))
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentId() == PageId.PREVIEW
    qtbot.waitUntil(lambda: wizard.preview_page.preview is not None, timeout=30_000)
    preview = wizard.preview_page.preview
    assert preview is not None and len(preview.fewshot) == 8
    assert set(preview.fewshot_per_type) == {"deny", "require_attestation", "require_mfa"}
    assert wizard.preview_page.files.rowCount() == 4
    assert "### Situation" in wizard.preview_page.examples.toPlainText()
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit.text() == "Finish"
    _click(qtbot, wizard, QWizard.WizardButton.CommitButton)
    qtbot.waitUntil(lambda: wizard.result_page.result is not None, timeout=60_000)
    names = sorted(p.name for p in target.iterdir())
    assert {"fewshot_examples.txt", "finetuning_dataset.json", "finetuning_chat.jsonl",
            "dpo_pairs.jsonl", "analysis_report.json", "manifest.json"} <= set(names)
    assert wizard.result_page.files.rowCount() == len(names)
    chat_lines = (target / "finetuning_chat.jsonl").read_text().splitlines()
    assert len(chat_lines) == 50 and "messages" in json.loads(chat_lines[0])
    assert settings.export_folder == str(target)

    # Closing the loop: a prompt version from the examples, then "Run the suite with it".
    assert wizard.result_page.create_prompt_version("v3_from_wizard")
    version = PromptCatalog().get("v3_from_wizard")
    exported = parse_examples((target / "fewshot_examples.txt").read_text())
    assert list(version.examples) == exported
    with qtbot.waitSignal(wizard.run_suite_requested) as requested:
        _click_button(qtbot, wizard.result_page.run_suite)
    assert requested.args == ["v3_from_wizard"]


def _click_button(qtbot: QtBot, button) -> None:
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_non_empty_folder_needs_replace(tmp_path: Path, make_wizard, qtbot: QtBot,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a: warnings.append(text)))
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    wizard = make_wizard(build(tmp_path / "d.db", 50), 50)
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    wizard.options_page.folder.setText(str(target))
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentId() == PageId.OPTIONS
    assert warnings and str(target) in warnings[0]
    assert (target / "keep.txt").read_text() == "mine"


# --- issue 12 items 9 and 12 --------------------------------------------------------------

NOTE = "Ticket 4411 approved by the change board; see the attached runbook. " * 300


def build_with_outlier(path: Path) -> tuple[Path, str]:
    """50 corrections; one more, the only allow, carries a 20,000-character note."""
    build(path, 50)
    with PolicyDecisionLog(path) as log:
        outlier = log.log_decision(PolicyDecision(
            situation={"actor": "ops", "role": "admin", "action": "write",
                       "target": "docs/changes.md", "note": NOTE[:20_000]},
            model_name="Gemma 3 270m", model_version="Q4_K_M",
            prompt_version="v2_fewshot_8examples", decision="deny", classification="docs",
            risk_level="low", reasoning="Deny.", expected_decision="allow",
            decision_correct=False))
        log.mark_reviewed(outlier, review_decision="allow",
                          review_reasoning="Routine documentation change.", reviewer="dana")
    return path, outlier


def test_preview_fits_the_context_and_an_example_can_be_left_out(
        tmp_path: Path, make_wizard, qtbot: QtBot) -> None:
    database, outlier = build_with_outlier(tmp_path / "d.db")
    target = tmp_path / "out"
    wizard = make_wizard(database, 51)
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    wizard.options_page.folder.setText(str(target))
    assert wizard.options_page.context_size.value() == 4096
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    page = wizard.preview_page
    qtbot.waitUntil(lambda: page.preview is not None, timeout=30_000)
    assert page.preview is not None and outlier not in page.preview.fewshot_ids
    assert page.budget is not None and page.budget.used <= page.budget.available
    assert "tokens of the" in page.budget_label.text()
    assert "1 far longer than a typical example left out" in page.budget_label.text()
    assert page.example_list.count() == len(page.preview.fewshot) == 8
    assert "tokens" in page.example_list.item(0).text()

    left_out = page.preview.fewshot_ids[2]
    rect = page.example_list.visualItemRect(page.example_list.item(2))
    qtbot.mouseClick(page.example_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=rect.center())
    assert page.example_list.currentRow() == 2
    assert page.examples.toPlainText().startswith("### Situation")
    _click_button(qtbot, page.exclude_button)
    qtbot.waitUntil(lambda: page.preview is not None, timeout=30_000)
    assert left_out not in page.preview.fewshot_ids
    assert len(page.preview.fewshot_ids) == 8  # another one took its place
    assert page.restore_button.isVisible()
    _click(qtbot, wizard, QWizard.WizardButton.CommitButton)
    qtbot.waitUntil(lambda: wizard.result_page.result is not None, timeout=60_000)
    manifest = json.loads((target / "manifest.json").read_text())
    assert left_out in json.dumps(manifest)
    report = json.loads((target / "analysis_report.json").read_text())
    assert report["quality"]["fewshot_tokens"]["used"] <= 4096


def test_a_second_export_the_same_day_gets_a_new_folder(
        tmp_path: Path, make_wizard, qtbot: QtBot, settings: Settings) -> None:
    first = tmp_path / "exports" / f"training_export_{date.today()}"
    first.mkdir(parents=True)
    (first / "manifest.json").write_text("{}")
    settings.export_folder = str(first)
    wizard = make_wizard(build(tmp_path / "d.db", 50), 50)
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    suggested = Path(wizard.options_page.folder.text())
    assert suggested == first.parent / f"training_export_{date.today()}_2"
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)  # no "Folder not empty"
    assert wizard.currentId() == PageId.PREVIEW


def _to_preview(qtbot: QtBot, wizard, folder: Path) -> None:
    """Next (readiness), the output folder, Next: until the preview is shown."""
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    wizard.options_page.folder.setText(str(folder))
    _click(qtbot, wizard, QWizard.WizardButton.NextButton)
    qtbot.waitUntil(lambda: wizard.preview_page.preview is not None, timeout=30_000)


def _finish(qtbot: QtBot, wizard) -> None:
    """Finish, and wait until the export is written."""
    _click(qtbot, wizard, QWizard.WizardButton.CommitButton)
    qtbot.waitUntil(lambda: wizard.result_page.result is not None, timeout=60_000)


def test_run_the_suite_closes_the_wizard_before_the_run_dialog_opens(
        tmp_path: Path, make_wizard, qtbot: QtBot) -> None:
    database = build(tmp_path / "d.db", 50)
    wizard = make_wizard(database, 50)
    _to_preview(qtbot, wizard, tmp_path / "out")
    _finish(qtbot, wizard)
    assert wizard.result_page.create_prompt_version("v3_closing")
    visible_when_asked: list[bool] = []
    wizard.run_suite_requested.connect(lambda _v: visible_when_asked.append(wizard.isVisible()))
    with qtbot.waitSignal(wizard.run_suite_requested):
        _click_button(qtbot, wizard.result_page.run_suite)
    assert visible_when_asked == [False]


def test_fine_tune_from_the_last_page_closes_the_wizard_and_passes_the_export(
        tmp_path: Path, make_wizard, qtbot: QtBot) -> None:
    database = build(tmp_path / "d.db", 50)
    wizard = make_wizard(database, 50)
    _to_preview(qtbot, wizard, tmp_path / "out")
    assert not wizard.result_page.finetune.isEnabled()
    _finish(qtbot, wizard)
    assert wizard.grab().save(str(tmp_path / "wizard-result-finetune.png"))
    with qtbot.waitSignal(wizard.finetune_requested) as requested:
        _click_button(qtbot, wizard.result_page.finetune)
    assert requested.args == [tmp_path / "out"] and not wizard.isVisible()


def test_a_cancelled_export_is_shown_on_the_gui_thread(tmp_path: Path, make_wizard,
                                                       qtbot: QtBot) -> None:
    """The worker's ``cancelled`` arrives from its own thread; the page must handle it on
    the GUI thread (a lambda slot ran on the emitting thread and set widget text there)."""
    wizard = make_wizard(build(tmp_path / "d.db", 50), 50)
    page = wizard.result_page
    threads: list[int] = []
    set_text = page.status.setText

    def record(text: str) -> None:
        threads.append(threading.get_ident())
        set_text(text)

    page.status.setText = record
    emitter = threading.Thread(target=wizard.controller.worker.cancelled.emit)
    emitter.start()
    emitter.join()
    qtbot.waitUntil(lambda: bool(threads), timeout=5_000)
    assert threads == [threading.get_ident()]
    assert page.status.text() == "Nothing was written: The export was cancelled."
