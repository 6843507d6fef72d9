"""Issue 12 item 10 at the desk: reviewers correct classification and risk level (keys C
and L), a corrected decision drops the model's labels unless confirmed, a review may carry
a comment; driven by keys and clicks, then the database checked."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit
from pytestqt.qtbot import QtBot
from window_helpers import WAIT_MS, fill, wait_idle

from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.ui.main_window import MainWindow
from policy_desktop.ui.review_form import describe_labels, dropped_labels
from policy_desktop.ui.review_panel import ReviewPanel, ReviewSubmission

CTRL = Qt.KeyboardModifier.ControlModifier
MODEL = {"decision": "deny", "classification": "destructive_admin_action", "risk_level": "high",
         "reasoning": "Writing docs is a destructive admin action."}


def activate(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    window.table.setFocus()


def press(qtbot: QtBot, window: MainWindow, key: Qt.Key,
          modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.focusWidget() or window.table, key, modifier)


def stored(path: str, decision_id: str) -> PolicyDecision:
    with PolicyDecisionLog(path) as log:
        decision = log.get_decision(decision_id)
    assert decision is not None
    return decision


def panel_of(window: MainWindow) -> ReviewPanel:
    panel = window.panel
    assert isinstance(panel, ReviewPanel)
    return panel


def shown_id(window: MainWindow) -> str | None:
    return window.shown_decision.decision_id if window.shown_decision else None


def test_correct_the_decision_set_the_risk_by_key_and_save(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    ids = list(reversed(fill(ui_db, 2, **MODEL)))  # newest first, as the table shows
    window = make_window(ui_db)
    activate(qtbot, window)
    panel = panel_of(window)
    form = panel.form
    assert shown_id(window) == ids[0]
    assert "(C)" in form.classification_caption.text() and "(L)" in form.risk_caption.text()
    assert "stand unless you change them" in form.labels_note.text()
    assert not form.keep_labels_button.isVisibleTo(panel)

    press(qtbot, window, Qt.Key.Key_1)  # allow: the decision is corrected
    assert form.status.text() == "Will record: correct decision (Deny → Allow)"
    assert "Not used for the new decision unless confirmed" in form.labels_note.text()
    assert "“destructive_admin_action”" in form.labels_note.text()
    assert form.keep_labels_button.isVisibleTo(panel)

    press(qtbot, window, Qt.Key.Key_L)
    assert window.focusWidget() is form.risk_box
    press(qtbot, window, Qt.Key.Key_L)  # low, not the L shortcut again
    assert form.risk_level() == "low"
    assert form.status.text() == ("Will record: correct decision (Deny → Allow); "
                                  "risk level high → low")
    press(qtbot, window, Qt.Key.Key_C)  # in the risk box: critical
    assert form.risk_level() == "critical"
    press(qtbot, window, Qt.Key.Key_L)
    press(qtbot, window, Qt.Key.Key_Escape)
    assert window.focusWidget() is not form.risk_box

    press(qtbot, window, Qt.Key.Key_C)  # the classification box: letters are typed
    box = form.classification_box
    assert window.focusWidget() is box  # the line edit's focus proxy
    qtbot.keyClicks(box, "docs_as_jira")  # a, s, j: typed, not accept/skip/next
    assert form.classification() == "docs_as_jira"
    assert shown_id(window) == ids[0]
    assert not stored(ui_db, ids[0]).reviewed
    press(qtbot, window, Qt.Key.Key_Return)  # leaves the box
    assert window.focusWidget() is not box

    press(qtbot, window, Qt.Key.Key_Return, CTRL)  # the reasoning prompt (item 11) first
    press(qtbot, window, Qt.Key.Key_Return, CTRL)  # keep it as it is
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: stored(ui_db, ids[0]).reviewed, timeout=WAIT_MS)
    first = stored(ui_db, ids[0])
    assert (first.review_action, first.review_decision) == ("correct_decision", "allow")
    assert (first.review_classification, first.review_risk_level) == ("docs_as_jira", "low")
    assert (first.classification, first.risk_level) == ("destructive_admin_action", "high")
    assert (first.final_classification, first.final_risk_level) == ("docs_as_jira", "low")
    with PolicyDecisionLog(ui_db) as log:
        [event] = log.get_review_history(ids[0])
    assert (event.reviewer, event.review_classification, event.review_risk_level) == (
        "tess", "docs_as_jira", "low")

    qtbot.waitUntil(lambda: shown_id(window) == ids[1], timeout=WAIT_MS)
    assert form.classification() is None and form.risk_level() is None  # a fresh form
    with PolicyDecisionLog(ui_db) as log:  # the first again, as the Reviewed view shows it
        panel.show_decision(log.get_decision(ids[0]), log.get_review_history(ids[0]))
    labels = [label.text() for label in panel.detail.findChildren(QLabel, "historyLabels")]
    assert labels == ["Classification: docs_as_jira  ·  Risk level: low"]
    assert (form.classification(), form.risk_level()) == ("docs_as_jira", "low")


def test_a_correction_without_labels_leaves_the_model_s_out(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    [only] = fill(ui_db, 1, **MODEL)
    window = make_window(ui_db)
    activate(qtbot, window)
    panel_of(window).form.set_reasoning_text("Members write docs every day.")
    press(qtbot, window, Qt.Key.Key_1)
    press(qtbot, window, Qt.Key.Key_Return, CTRL)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: stored(ui_db, only).reviewed, timeout=WAIT_MS)
    decision = stored(ui_db, only)
    assert decision.review_action == "correct_both"
    assert (decision.final_classification, decision.final_risk_level) == (None, None)


def test_keep_the_model_s_labels_in_one_click(
        qtbot: QtBot, make_window: Any, ui_db: str) -> None:
    [only] = fill(ui_db, 1, **MODEL)
    window = make_window(ui_db)
    activate(qtbot, window)
    form = panel_of(window).form
    qtbot.mouseClick(form.decision_buttons["require_mfa"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.keep_labels_button, Qt.MouseButton.LeftButton)
    assert (form.classification(), form.risk_level()) == ("destructive_admin_action", "high")
    assert form.status.text().endswith("; classification confirmed, risk level confirmed")
    assert not form.keep_labels_button.isVisibleTo(window)
    window.table.setFocus()
    press(qtbot, window, Qt.Key.Key_M)
    assert window.focusWidget() is form.comment
    qtbot.keyClicks(form.comment, "<b>MFA</b> for docs writes after hours")  # a, s typed
    assert not stored(ui_db, only).reviewed
    qtbot.mouseClick(form.commit_button, Qt.MouseButton.LeftButton)  # reasoning prompt
    qtbot.mouseClick(form.commit_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: stored(ui_db, only).reviewed, timeout=WAIT_MS)
    decision = stored(ui_db, only)
    assert (decision.final_classification, decision.final_risk_level) == (
        "destructive_admin_action", "high")
    with PolicyDecisionLog(ui_db) as log:
        [event] = log.get_review_history(only)
    assert event.comment == "<b>MFA</b> for docs writes after hours"
    panel = panel_of(window)
    with PolicyDecisionLog(ui_db) as log:
        panel.show_decision(log.get_decision(only), log.get_review_history(only))
    [shown] = [label.text() for label in panel.detail.findChildren(QLabel)
               if label.objectName() == "historyComment"]
    assert shown == "Comment: <b>MFA</b> for docs writes after hours"  # plain text
    assert all(label.textFormat() == Qt.TextFormat.PlainText
               for label in panel.detail.findChildren(QLabel, "historyComment"))


def test_blind_review_hides_the_model_s_labels_until_the_choice(
        qtbot: QtBot, make_window: Any, ui_db: str, settings: Any) -> None:
    fill(ui_db, 1, **MODEL)
    settings.blind_review = True
    window = make_window(ui_db)
    activate(qtbot, window)
    panel = panel_of(window)
    form = panel.form
    panel.set_known_classifications(["routine_docs_write"])
    boxes = [form.classification_box, form.risk_box]
    assert not any(box.isEnabled() for box in boxes)
    offered = [form.classification_box.itemText(i)
               for i in range(form.classification_box.count())]
    assert "destructive_admin_action" not in offered
    texts = " ".join(label.text() for label in panel.findChildren(QLabel)
                     if label.isVisibleTo(panel))
    texts += " ".join(box.currentText() for box in panel.findChildren(QComboBox))
    texts += " ".join(edit.placeholderText() for edit in panel.findChildren(QLineEdit))
    assert "destructive_admin_action" not in texts and "high" not in texts
    press(qtbot, window, Qt.Key.Key_C)  # no effect before the choice
    assert window.focusWidget() is not form.classification_box
    press(qtbot, window, Qt.Key.Key_L)
    assert window.focusWidget() is not form.risk_box

    press(qtbot, window, Qt.Key.Key_2)  # the blind choice reveals
    assert all(box.isEnabled() for box in boxes)
    offered = [form.classification_box.itemText(i)
               for i in range(form.classification_box.count())]
    assert offered == ["destructive_admin_action", "routine_docs_write"]
    assert form.classification() is None  # offered, not chosen


def test_form_outcome_texts() -> None:
    assert describe_labels("a", "high", None, None) == ""
    assert describe_labels("a", "high", "a", "low") == (
        "classification confirmed, risk level high → low")
    assert describe_labels(None, None, "b", "low") == "classification → b, risk level none → low"
    assert dropped_labels("a", "high", None, "low") == ["“a”"]
    assert dropped_labels(None, None, None, None) == []


@pytest.mark.parametrize("press_accept", [False, True])
def test_the_submission_carries_the_labels_to_the_store(
        qtbot: QtBot, log: PolicyDecisionLog, press_accept: bool) -> None:
    panel = ReviewPanel()
    qtbot.addWidget(panel)
    panel.show()
    decision_id = log.log_decision(PolicyDecision(
        situation={"actor": "sam"}, model_name="m", model_version="1", prompt_version="v2",
        **MODEL))
    panel.show_decision(log.get_decision(decision_id), [])
    panel.form.set_risk_level("medium")
    panel.form.set_classification("  docs  ")
    panel.form.comment.setText("checked twice")
    with qtbot.waitSignal(panel.submitted) as blocker:
        if press_accept:
            panel.accept()
        else:
            panel.commit()
    submission = blocker.args[0]
    assert submission == ReviewSubmission(decision_id, None, None, None, "docs", "medium",
                                          "checked twice")
    assert log.mark_reviewed(decision_id, reviewer="tess",
                             **submission.review_arguments()) == "accept"
    stored_decision = log.get_decision(decision_id)
    assert stored_decision is not None
    assert (stored_decision.final_classification, stored_decision.final_risk_level) == (
        "docs", "medium")
