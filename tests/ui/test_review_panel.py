"""The review panel: details of one decision and the correction form, on a real database."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget
from pytestqt.qtbot import QtBot

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.detail_view import format_value, local_time, undone_event_ids
from policy_desktop.ui.review_form import describe_outcome, form_outcome
from policy_desktop.ui.review_panel import ReviewPanel, ReviewSubmission

REASONING = "Members may read docs. Trust is high and MFA is verified."
HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"


@pytest.fixture
def panel(qtbot: QtBot) -> ReviewPanel:
    widget = ReviewPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    return widget


def logged(log: PolicyDecisionLog, **changes: object) -> PolicyDecision:
    """Log a decision (with ``changes``) and read it back as the window would."""
    values: dict[str, object] = {
        "situation": {"actor": "alice", "role": "member", "action": "read",
                      "target": "docs/readme.md", "trust_score": 0.85, "mfa_verified": True,
                      "time": "Tuesday 10:30"},
        "team_context": "Platform team.", "model_name": "gemma-3-270m",
        "model_version": "Q4_K_M", "prompt_version": "v2_fewshot_8examples",
        "decision": "allow", "classification": "routine_read_access", "risk_level": "low",
        "reasoning": REASONING, "full_response": '{"decision": "allow"}',
        "expected_decision": "allow", "decision_correct": True, "reasoning_coverage": 0.78,
        "confidence": 0.91, "scenario_id": "E01", "tags": ["read", "docs"],
    }
    values.update(changes)
    decision_id = log.log_decision(PolicyDecision(**values))  # type: ignore[arg-type]
    stored = log.get_decision(decision_id)
    assert stored is not None
    return stored


def show(panel: ReviewPanel, log: PolicyDecisionLog, decision: PolicyDecision) -> None:
    assert decision.decision_id is not None
    fresh = log.get_decision(decision.decision_id)
    panel.show_decision(fresh, log.get_review_history(decision.decision_id))


def submit(qtbot: QtBot, panel: ReviewPanel, button: QWidget) -> ReviewSubmission:
    with qtbot.waitSignal(panel.submitted, timeout=1000) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    submission = blocker.args[0]
    assert isinstance(submission, ReviewSubmission)
    return submission


def record(log: PolicyDecisionLog, submission: ReviewSubmission) -> str:
    """Write a submission the way the window does; return the recorded action."""
    return log.mark_reviewed(submission.decision_id, submission.review_decision,
                             submission.review_reasoning, "tester",
                             blind_decision=submission.blind_decision)


def visible_texts(root: QWidget) -> str:
    """The text of every label and text box the reviewer can currently see."""
    texts = [label.text() for label in root.findChildren(QLabel) if label.isVisibleTo(root)]
    texts += [box.toPlainText() for box in root.findChildren(QPlainTextEdit)
              if box.isVisibleTo(root)]
    return "\n".join(texts)


def replace_reasoning(qtbot: QtBot, panel: ReviewPanel, text: str) -> None:
    panel.focus_reasoning()
    editor = panel.form.editor
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    qtbot.keyClicks(editor, text)


# --- details -------------------------------------------------------------------------------

def test_nothing_selected_shows_a_calm_placeholder(panel: ReviewPanel) -> None:
    panel.show_decision(None, [])
    assert panel.stack.currentWidget() is panel.placeholder
    assert panel.placeholder_title.text() == "No decision selected"
    assert "J / K" in panel.placeholder_hint.text()
    assert not panel.form.isEnabled()


def test_every_situation_key_is_shown_including_unknown_and_nested(
        panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    situation = {
        "actor": "bob", "role": "maintainer", "action": "deploy", "target": "prod/api",
        "trust_score": 0.8, "mfa_verified": False, "time": "Friday 17:55",
        "change_ticket": "OPS-1432", "approvers": ["carol", "dave"],
        "window": {"from": "18:00", "to": "19:00", "zones": [{"name": "eu"}]},
        "notes": None, "empty": "",
    }
    decision = logged(log, situation=situation)
    show(panel, log, decision)
    shown = panel.detail.situation.value_texts()
    assert set(shown) == set(situation)
    assert list(shown)[:4] == ["actor", "role", "action", "target"]
    assert shown["change_ticket"] == "OPS-1432"
    assert shown["approvers"] == "carol, dave"
    assert shown["mfa_verified"] == "no"
    assert shown["trust_score"] == "0.8"
    assert shown["window"] == "from: 18:00\nto: 19:00\nzones:\n  - name: eu"
    assert shown["notes"] == "(none)"
    assert shown["empty"] == "(empty)"


def test_header_model_answer_and_evaluation(panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    run_id = log.start_run(run_id="run_test")
    decision = logged(log, run_id=run_id, decision="deny", decision_correct=False)
    show(panel, log, decision)
    detail = panel.detail
    assert detail.id_label.text() == decision.decision_id
    meta = detail.meta_label.text()
    for part in (local_time(decision.timestamp), "Scenario E01", "gemma-3-270m Q4_K_M",
                 "Prompt v2_fewshot_8examples", "Run run_test"):
        assert part in meta
    assert detail.decision_badge.text() == "✕ Deny"
    facts = detail.model_facts.value_texts()
    assert facts == {"Classification": "routine_read_access", "Risk level": "●○○○  low",
                     "Confidence": "91%"}
    assert detail.reasoning.text() == REASONING
    assert detail.expected_badge is not None and detail.expected_badge.text() == "✓ Allow"
    assert detail.verdict is not None and detail.verdict.text().startswith("✗ Incorrect")
    evaluation = detail.evaluation.value_texts()
    assert evaluation["Reasoning coverage"] == "78%"
    assert evaluation["Tags"] == "read, docs"
    assert detail.team_context.text() == "Platform team."
    assert "Not reviewed yet" in detail.state_label.text()


def test_full_response_is_collapsed_by_default(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    show(panel, log, logged(log))
    detail = panel.detail
    assert not detail.full_response.isVisible()
    qtbot.mouseClick(detail.response_toggle, Qt.MouseButton.LeftButton)
    assert detail.full_response.isVisible()
    assert detail.full_response.toPlainText() == '{"decision": "allow"}'
    assert detail.full_response.isReadOnly()


def test_history_shows_who_when_what_and_undos(panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    assert decision.decision_id is not None
    log.mark_reviewed(decision.decision_id, "deny", reviewer="alice", blind_decision="deny")
    log.undo_review(decision.decision_id, reviewer="alice")
    log.mark_reviewed(decision.decision_id, review_reasoning="Docs are public.", reviewer="bob")
    show(panel, log, decision)
    history = log.get_review_history(decision.decision_id)
    assert undone_event_ids(history) == {history[0].id}
    heads = [label.text() for label in panel.detail.findChildren(QLabel, "historyHead")]
    whats = [label.text() for label in panel.detail.findChildren(QLabel, "historyWhat")]
    assert heads == [f"{local_time(e.timestamp)}  ·  {e.reviewer}" for e in history]
    assert whats[0] == ("Corrected decision → ✕ Deny   (blind first choice: Deny)   — undone")
    assert panel.detail.findChildren(QLabel, "historyWhat")[0].font().strikeOut()
    assert whats[1] == "↶ Undid the previous review"
    assert whats[2] == "Corrected reasoning"
    reasons = [label.text() for label in panel.detail.findChildren(QLabel, "historyReasoning")]
    assert reasons == ["“Docs are public.”"]
    assert "Reviewed: corrected reasoning by bob" in panel.detail.state_label.text()


def test_empty_history(panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    show(panel, log, logged(log))
    (empty,) = panel.detail.findChildren(QLabel, "historyEmpty")
    assert empty.text() == "No reviews yet."


# --- correction form -----------------------------------------------------------------------

def test_accept_submits_no_decision_and_no_reasoning(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    assert "A" in panel.form.accept_button.text()
    submission = submit(qtbot, panel, panel.form.accept_button)
    assert submission == ReviewSubmission(decision.decision_id or "", None, None, None)
    assert record(log, submission) == "accept"


def test_choose_deny_then_commit_is_a_decision_correction(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    """Issue 12 item 11: the model's reasoning argued for allow; saving the new decision
    with it asks first, and saving again keeps it."""
    decision = logged(log)
    show(panel, log, decision)
    qtbot.mouseClick(panel.form.decision_buttons["deny"], Qt.MouseButton.LeftButton)
    assert panel.form.status.text() == "Will record: correct decision (Allow → Deny)"
    with qtbot.assertNotEmitted(panel.submitted):
        qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)
    assert panel.form.status.text() == ("The reasoning still argues for Allow: press R to "
                                        "rewrite it, or Ctrl+Enter again to keep it as it is")
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert submission == ReviewSubmission(decision.decision_id or "", "deny", None, None)
    assert record(log, submission) == "correct_decision"
    stored = log.get_decision(decision.decision_id or "")
    assert stored is not None and stored.decision == "allow" and stored.review_decision == "deny"


def test_edited_reasoning_then_ctrl_enter_is_a_reasoning_correction(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    assert panel.form.reasoning_text() == REASONING  # pre-filled with the model's reasoning
    replace_reasoning(qtbot, panel, "  Docs are public to members.  ")
    assert panel.form.editor.hasFocus()
    assert panel.form.status.text() == "Will record: correct reasoning (decision unchanged)"
    with qtbot.waitSignal(panel.submitted, timeout=1000) as blocker:
        qtbot.keyClick(panel.form.editor, Qt.Key.Key_Return,
                       Qt.KeyboardModifier.ControlModifier)
    submission = blocker.args[0]
    assert submission == ReviewSubmission(decision.decision_id or "", None,
                                          "Docs are public to members.", None)
    assert "\n" not in panel.form.reasoning_text()  # Ctrl+Enter saved, it did not type
    assert record(log, submission) == "correct_reasoning"


def test_both_changed(qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    panel.choose_decision("require_mfa")
    replace_reasoning(qtbot, panel, "Secrets need MFA.")
    assert panel.form.status.text() == (
        "Will record: correct both (Allow → Require MFA, new reasoning)")
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert submission == ReviewSubmission(decision.decision_id or "", "require_mfa",
                                          "Secrets need MFA.", None)
    assert record(log, submission) == "correct_both"


def test_unchanged_commit_has_accept_semantics(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    replace_reasoning(qtbot, panel, f"   {REASONING}  ")  # whitespace only: unchanged
    panel.choose_decision("deny")
    panel.choose_decision("allow")  # back to the model's own decision
    assert panel.form.status.text().startswith("Will record: accept")
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert (submission.review_decision, submission.review_reasoning) == (None, None)
    assert record(log, submission) == "accept"


def test_skip_emits_skipped_and_no_submission(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    show(panel, log, logged(log))
    panel.choose_decision("deny")
    with qtbot.assertNotEmitted(panel.submitted), \
            qtbot.waitSignal(panel.skipped, timeout=1000):
        qtbot.mouseClick(panel.form.skip_button, Qt.MouseButton.LeftButton)


def test_programmatic_actions_match_the_buttons(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    for choice in ("allow", "deny", "require_attestation", "require_mfa"):
        panel.choose_decision(choice)
        assert panel.form.chosen_decision() == choice
        assert panel.form.decision_buttons[choice].isChecked()
    panel.commit()  # the reasoning still argues for allow: asked first …
    with qtbot.waitSignal(panel.submitted) as blocker:
        panel.commit()  # … kept on the second
    assert blocker.args[0].review_decision == "require_mfa"
    with qtbot.waitSignal(panel.submitted) as blocker:
        panel.accept()
    assert blocker.args[0].review_decision is None
    with qtbot.waitSignal(panel.skipped):
        panel.skip()


def test_buttons_show_their_keys(panel: ReviewPanel) -> None:
    form = panel.form
    assert form.accept_button.text().endswith("A")
    assert form.skip_button.text().endswith("S")
    assert form.commit_button.text().endswith("Ctrl+Enter")
    for key, decision in zip("1234", ("allow", "deny", "require_attestation", "require_mfa"),
                             strict=True):
        assert form.decision_buttons[decision].text().startswith(key)
    assert "R" in form.reasoning_caption.text()


def test_reset_puts_the_model_reasoning_back(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    show(panel, log, logged(log))
    replace_reasoning(qtbot, panel, "Something else.")
    qtbot.mouseClick(panel.form.reset_button, Qt.MouseButton.LeftButton)
    assert panel.form.reasoning_text() == REASONING


def test_a_reviewed_decision_starts_from_its_current_review(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    assert decision.decision_id is not None
    log.mark_reviewed(decision.decision_id, "deny", "Readme is internal.", reviewer="alice")
    show(panel, log, decision)
    assert panel.form.chosen_decision() == "deny"
    assert panel.form.reasoning_text() == "Readme is internal."
    assert "Already reviewed" in panel.form.note.text()
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert (submission.review_decision, submission.review_reasoning) == (
        "deny", "Readme is internal.")  # saving unchanged keeps the correction


def test_unparseable_needs_a_decision(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log, decision="unparseable", reasoning=None, decision_correct=False)
    show(panel, log, decision)
    assert panel.detail.decision_badge.text() == "? Unparseable"
    assert not panel.form.accept_button.isEnabled()
    assert not panel.form.commit_button.isEnabled()
    with qtbot.assertNotEmitted(panel.submitted):
        panel.accept()
        panel.commit()
    panel.choose_decision("allow")
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert submission.review_decision == "allow"
    assert record(log, submission) == "correct_decision"


def test_a_refresh_of_the_shown_decision_keeps_the_form(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    panel.choose_decision("deny")
    replace_reasoning(qtbot, panel, "Half-typed")
    show(panel, log, decision)  # e.g. the table reloaded after another process wrote
    assert (panel.form.chosen_decision(), panel.form.reasoning_text()) == ("deny", "Half-typed")
    log.mark_reviewed(decision.decision_id or "", reviewer="someone")
    show(panel, log, decision)  # the review state changed: start from it
    assert (panel.form.chosen_decision(), panel.form.reasoning_text()) == ("allow", REASONING)


def test_escape_leaves_the_reasoning_editor(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    show(panel, log, logged(log))
    panel.activateWindow()
    panel.focus_reasoning()
    qtbot.waitUntil(panel.form.editor.hasFocus, timeout=1000)
    qtbot.keyClick(panel.form.editor, Qt.Key.Key_Escape)
    assert not panel.form.editor.hasFocus()
    assert panel.form.reasoning_text() == REASONING


# --- blind review --------------------------------------------------------------------------

def test_blind_review_hides_the_model_answer_until_a_choice(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log, reasoning="The distinctive model reasoning.")
    panel.set_blind_review(True)
    show(panel, log, decision)
    detail = panel.detail
    hidden = (detail.model_section, detail.evaluation_section, detail.response_section,
              detail.history_section)
    assert not any(section.isVisibleTo(panel) for section in hidden)
    assert detail.hidden_note.isVisibleTo(panel)
    assert "distinctive" not in visible_texts(panel)
    assert "routine_read_access" not in visible_texts(panel)
    assert panel.form.chosen_decision() is None
    assert not panel.form.editor.isEnabled()
    assert not panel.form.accept_button.isEnabled()
    assert not panel.form.commit_button.isEnabled()
    panel.focus_reasoning()
    assert not panel.form.editor.hasFocus()
    assert "Blind review" in panel.form.status.text()
    show(panel, log, decision)  # a refresh keeps it hidden
    assert not detail.model_section.isVisibleTo(panel)

    qtbot.mouseClick(panel.form.decision_buttons["deny"], Qt.MouseButton.LeftButton)
    assert all(section.isVisibleTo(panel) for section in hidden)
    assert "distinctive" in visible_texts(panel)
    assert panel.form.reasoning_text() == "The distinctive model reasoning."
    assert panel.form.accept_button.isEnabled()
    assert panel.form.note.text() == "Your blind choice: Deny — the model said Allow (differs)"

    panel.choose_decision("allow")  # convinced by the model after all
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert submission == ReviewSubmission(decision.decision_id or "", None, None, "deny")
    assert record(log, submission) == "accept"
    (event,) = log.get_review_history(decision.decision_id or "")
    assert (event.blind, event.blind_decision) == (True, "deny")


def test_blind_choice_by_key_reveals_and_accept_keeps_it(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    panel.set_blind_review(True)
    show(panel, log, decision)
    panel.choose_decision("allow")
    assert panel.detail.is_model_answer_visible()
    with qtbot.waitSignal(panel.submitted) as blocker:
        panel.accept()
    assert blocker.args[0] == ReviewSubmission(decision.decision_id or "", None, None, "allow")


def test_turning_blind_review_on_and_off(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(log)
    show(panel, log, decision)
    panel.set_blind_review(True)
    assert panel.is_blind_review()
    assert not panel.detail.is_model_answer_visible()
    assert panel.form.chosen_decision() is None
    panel.set_blind_review(False)
    assert panel.detail.is_model_answer_visible()
    assert panel.form.chosen_decision() == "allow"
    with qtbot.waitSignal(panel.submitted) as blocker:
        panel.accept()
    assert blocker.args[0].blind_decision is None  # nothing was chosen blind


# --- untrusted text ------------------------------------------------------------------------

def test_hostile_text_is_shown_literally(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog) -> None:
    decision = logged(
        log, situation={"actor": HOSTILE, HOSTILE: "value", "nested": {HOSTILE: [HOSTILE]}},
        reasoning=HOSTILE, team_context=HOSTILE, classification=HOSTILE, scenario_id=HOSTILE,
        full_response=HOSTILE, tags=[HOSTILE], model_name=HOSTILE)
    assert decision.decision_id is not None
    log.mark_reviewed(decision.decision_id, review_reasoning=f"fixed {HOSTILE}",
                      reviewer=HOSTILE)
    show(panel, log, decision)
    qtbot.mouseClick(panel.detail.response_toggle, Qt.MouseButton.LeftButton)
    shown = panel.detail.situation.value_texts()
    assert shown["actor"] == HOSTILE
    assert shown[HOSTILE] == "value"
    assert shown["nested"] == f"{HOSTILE}: {HOSTILE}"
    assert panel.detail.reasoning.text() == HOSTILE
    assert panel.detail.team_context.text() == HOSTILE
    assert HOSTILE in panel.detail.meta_label.text()
    assert panel.detail.full_response.toPlainText() == HOSTILE
    assert panel.form.reasoning_text() == f"fixed {HOSTILE}"
    assert HOSTILE in visible_texts(panel)
    labels = panel.findChildren(QLabel)
    with_log_text = [label for label in labels if "<b>" in label.text()]
    assert len(with_log_text) >= 8
    for label in labels:
        assert label.textFormat() == Qt.TextFormat.PlainText, label.text()


# --- pure helpers --------------------------------------------------------------------------

def test_form_outcome_rules() -> None:
    assert form_outcome("allow", "r", None, "r").action == "accept"
    assert form_outcome("allow", "r", "allow", " r \n").action == "accept"
    assert form_outcome("allow", "r", "allow", "   ").action == "accept"  # empty: unchanged
    outcome = form_outcome("allow", None, "deny", " new ")
    assert (outcome.action, outcome.review_decision, outcome.review_reasoning) == (
        "correct_both", "deny", "new")
    assert describe_outcome(outcome, "allow") == (
        "Will record: correct both (Allow → Deny, new reasoning)")


def test_format_value() -> None:
    assert format_value(True) == "yes"
    assert format_value(3) == "3"
    assert format_value([]) == "(empty list)"
    assert format_value({}) == "(empty)"
    assert format_value([{"a": 1}, 2]) == "- a: 1\n- 2"
    assert local_time("not a time") == "not a time"
    assert local_time(None) == "—"


def test_rewriting_the_reasoning_after_the_prompt_records_both(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog, qapp: object) -> None:
    decision = logged(log)
    show(panel, log, decision)
    panel.choose_decision("deny")
    with qtbot.assertNotEmitted(panel.submitted):
        panel.commit()
    assert "still argues for Allow" in panel.form.status.text()
    panel.focus_reasoning()
    panel.form.set_reasoning_text("The readme is internal; members may not read it.")
    assert panel.form.status.text().startswith("Will record: correct both")
    submission = submit(qtbot, panel, panel.form.commit_button)
    assert submission.review_reasoning == "The readme is internal; members may not read it."
    assert record(log, submission) == "correct_both"


def test_a_double_click_on_save_does_not_confirm_the_reasoning(
        qtbot: QtBot, panel: ReviewPanel, log: PolicyDecisionLog, qapp: Any) -> None:
    qapp.setDoubleClickInterval(400)
    decision = logged(log)
    show(panel, log, decision)
    qtbot.wait(450)
    panel.choose_decision("deny")
    with qtbot.assertNotEmitted(panel.submitted):
        for _ in range(2):
            qtbot.mouseClick(panel.form.commit_button, Qt.MouseButton.LeftButton)
    qtbot.wait(450)
    submit(qtbot, panel, panel.form.commit_button)
