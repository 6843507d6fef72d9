"""`policy-desktop run`: bad input is refused before anything runs; real runs log everything."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.engine.prompts import FewShotExample, PromptCatalog, format_examples
from policy_desktop.store import PolicyDecisionLog

DECISION_ID = re.compile(r"dec_\d{4}-\d\d-\d\dT\d{4}_[0-9a-f]{8}")


def test_missing_model_file_is_named_and_nothing_is_logged(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--db", str(db_path), "--model", "/nowhere/model.gguf"])
    assert code == 2
    assert "/nowhere/model.gguf" in capsys.readouterr().err
    assert not db_path.exists()


def test_non_gguf_model_file_is_refused(tmp_path: Path, db_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("this is not a model\n")
    assert main(["run", "--db", str(db_path), "--model", str(fake)]) == 2
    assert str(fake) in capsys.readouterr().err
    assert not db_path.exists()


def test_invalid_scenario_file_reports_every_problem(tmp_path: Path, db_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(
        '[[scenario]]\nid = "X1"\ndifficulty = "easy"\ndescription = "d"\n'
        'expected_decision = "permit"\nexpected_reasoning = ["a", "b"]\n'
        '[scenario.situation]\nactor = "a"\nrole = "member"\naction = "read"\n'
        '[[scenario]]\nid = "X1"\ndifficulty = "impossible"\ndescription = "d"\n'
        'expected_decision = "deny"\nexpected_reasoning = ["a"]\n'
        '[scenario.situation]\nactor = "a"\nrole = "member"\naction = "read"\ntarget = "t"\n')
    assert main(["run", "--db", str(db_path), "--scenarios", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "X1.expected_decision" in err
    assert "difficulty" in err
    assert "target" in err
    assert not db_path.exists()


def test_unknown_scenario_id_is_refused(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--db", str(db_path), "--only", "E01,Z99"]) == 2
    err = capsys.readouterr().err
    assert "Z99" in err and "E01" in err
    assert not db_path.exists()


def test_unknown_prompt_version_lists_known_ones(db_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--db", str(db_path), "--prompt-version", "v9_nonsense"]) == 2
    err = capsys.readouterr().err
    assert "v9_nonsense" in err and "v2_fewshot_8examples" in err
    assert not db_path.exists()


@pytest.mark.slow
def test_quick_run_logs_every_decision_with_full_context(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    for scenario_id in ("E01", "E02", "M01"):
        assert re.search(rf"^{scenario_id}\s+(PASS|FAIL)", out, re.MULTILINE)
    assert "Pass rate:" in out and "Mean reasoning coverage:" in out
    assert str(db_path) in out

    log = PolicyDecisionLog(db_path, create=False)
    decisions = sorted(log.get_all_decisions(), key=lambda d: d.scenario_id or "")
    assert [d.scenario_id for d in decisions] == ["E01", "E02", "M01"]
    runs = log.list_runs()
    assert len(runs) == 1 and runs[0].status == "completed"
    assert runs[0].summary["scenarios_run"] == 3
    for decision in decisions:
        assert DECISION_ID.fullmatch(decision.decision_id or "")
        assert decision.decision_id in out
        assert decision.run_id == runs[0].run_id
        assert decision.model_version == "Q4_K_M"
        assert "gemma" in decision.model_name.lower()
        assert decision.prompt_version == "v2_fewshot_8examples"
        assert decision.situation["actor"]
        assert decision.team_context
        assert decision.expected_decision in ("allow", "deny", "require_attestation")
        assert decision.decision_correct == (decision.decision == decision.expected_decision)
        assert 0.0 <= (decision.reasoning_coverage or 0.0) <= 1.0
        assert decision.full_response
        assert decision.prompt_tokens and decision.prompt_tokens > 100
        assert decision.generated_tokens is not None and decision.seconds is not None
        if decision.decision != "unparseable":
            assert decision.confidence is not None and 0.0 < decision.confidence <= 1.0
        assert "quick" in decision.tags
    log.close()


@pytest.mark.slow
def test_run_with_a_created_prompt_version_logs_it(
        tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = [FewShotExample(
        situation={"actor": "zed", "role": "guest", "action": "write", "target": "src/app.py"},
        team_context=None, decision="deny", classification="role_violation", risk_level="medium",
        reasoning="Guests may only read public docs.")]
    examples_file = tmp_path / "fewshot_examples.txt"
    examples_file.write_text(format_examples(examples), encoding="utf-8")
    assert main(["prompts", "create", "v3_from_reviews", "--from", str(examples_file)]) == 0
    assert "v3_from_reviews" in PromptCatalog().names()
    capsys.readouterr()

    assert main(["run", "--db", str(db_path), "--only", "E02",
                 "--prompt-version", "v3_from_reviews"]) == 0
    log = PolicyDecisionLog(db_path, create=False)
    [decision] = log.get_all_decisions()
    assert decision.prompt_version == "v3_from_reviews"
    assert log.list_runs()[0].prompt_version == "v3_from_reviews"
    summary = json.dumps(log.list_runs()[0].summary)
    assert "E02" in summary
    log.close()


def _model_child(parent: int) -> int | None:
    """The ``policy-desktop-model`` child of process ``parent`` (None until it exists)."""
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        except OSError:
            continue
    return None


@pytest.mark.slow
def test_a_crashed_model_is_one_line_an_exit_status_and_a_failed_run(db_path: Path) -> None:
    """The model's process dies of SIGSEGV mid-run: the command says so in one line, exits
    with status 3, and the run is recorded as failed with what finished kept."""
    import os
    import signal
    import subprocess
    import sys
    import time

    with subprocess.Popen(
            [sys.executable, "-m", "policy_desktop", "run", "--db", str(db_path), "--only",
             "E01,E02"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as command:
        assert command.stdout is not None and command.stderr is not None
        killed = False
        for line in command.stdout:  # kill once the first scenario is logged
            if line.startswith("E01 ") and not killed:
                child = None
                deadline = time.monotonic() + 30
                while child is None and time.monotonic() < deadline:
                    child = _model_child(command.pid)
                    time.sleep(0.05)
                assert child is not None, "no model child process found"
                os.kill(child, signal.SIGSEGV)
                killed = True
        stderr = command.stderr.read()
        assert command.wait(timeout=120) == 3
    assert killed
    errors = [line for line in stderr.splitlines() if line.startswith("policy-desktop: error")]
    assert len(errors) == 1 and "SIGSEGV" in errors[0] and "marked failed" in errors[0]
    assert "Traceback" not in stderr
    with PolicyDecisionLog(db_path) as log:
        [run] = log.list_runs()
        assert run.status == "failed" and "SIGSEGV" in (run.error or "")
        assert [d.scenario_id for d in log.get_all_decisions()] == ["E01"]


def test_model_option_takes_a_registered_fine_tuned_model(tmp_path: Path) -> None:
    """``--model NAME`` of a registered model runs its base with its adapter, logs under its
    own name and version, and defaults to the prompt it was trained with."""
    from policy_desktop.commands.run import choose_model
    from policy_desktop.finetune.base_model import file_sha256
    from policy_desktop.finetune.registry import ModelRegistry

    base = tmp_path / "base.gguf"
    base.write_bytes(b"base weights")
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"adapter weights")
    ModelRegistry().register("policy-tuned", adapter, {
        "base_model": {"path": str(base), "sha256": file_sha256(base), "name": "Gemma 3 270m",
                       "quantization": "Q4_K_M"},
        "prompt_version": "v3_tuned_short", "adapter": {"rank": 8, "alpha": 16.0}})
    choice = choose_model("policy-tuned")
    assert choice.path == base and choice.lora_path is not None
    assert choice.lora_path.read_bytes() == b"adapter weights"
    assert choice.label is not None and choice.label[0] == "Gemma 3 270m + policy-tuned"
    assert choice.label[1].startswith("Q4_K_M lora:")
    assert choice.prompt_version == "v3_tuned_short"
    with pytest.raises(ValueError, match="registered: policy-tuned"):
        choose_model("no-such-model")
    assert choose_model(None).path is None


def test_a_label_names_what_the_runner_logs() -> None:
    import fake_model_servers as fakes

    from policy_desktop.engine.bundled_model import bundled_model_path
    from policy_desktop.engine.llm import EngineSettings
    from policy_desktop.engine.model_process import ModelProcess

    settings = EngineSettings(model_path=bundled_model_path(), label=("Tuned", "Q4 lora:ab"))
    with ModelProcess(settings, target=fakes.answers) as model:
        assert (model.info.name, model.info.quantization) == ("Tuned", "Q4 lora:ab")


@pytest.mark.slow
def test_run_through_llama_server_with_parallel_slots(db_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from policy_desktop.commands.serve_model import find_server_binary, start_server

    if find_server_binary() is None:
        reason = "llama-server is not built (python3 packaging/build_llama_server.py)"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    with start_server(parallel=2) as server:
        code = main(["run", "--db", str(db_path), "--endpoint", server.url, "--parallel", "2",
                     "--only", "E01,E02"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Scenarios: 2 of 2" in out
    with PolicyDecisionLog(db_path) as log:
        [run] = log.list_runs()
        decisions = sorted(log.get_all_decisions(), key=lambda d: d.scenario_id or "")
    assert run.status == "completed" and run.model_name == "Gemma 3 270m"
    assert [d.scenario_id for d in decisions] == ["E01", "E02"]
    assert all(d.confidence is not None and d.run_id == run.run_id for d in decisions)


def test_parallel_needs_an_endpoint(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--db", str(db_path), "--parallel", "4"]) == 2
    assert "--parallel needs --endpoint" in capsys.readouterr().err
