"""``policy-desktop serve-model`` and the real llama-server answering through EndpointModel."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from production_helpers import ROOT

from policy_desktop.commands.serve_model import (
    find_server_binary,
    server_command,
    start_server,
)
from policy_desktop.engine.llm import PREFILL_CHUNK
from policy_desktop.vocabulary import DECISIONS, RISK_LEVELS


def _binary_or_skip() -> Path:
    binary = find_server_binary()
    if binary is None:
        reason = ("llama-server is not built (python3 packaging/build_llama_server.py "
                  "--python .venv/bin/python)")
        print(f"skipped: {reason}")
        pytest.skip(reason)
    return binary


def test_command_line_is_loopback_with_a_context_per_slot(tmp_path: Path) -> None:
    command = server_command(tmp_path / "llama-server", tmp_path / "m.gguf", port=8123,
                             parallel=8, ctx_per_slot=2048, threads=2)
    pairs = dict(zip(command[1::2], command[2::2], strict=False))
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == "8123"
    assert (pairs["--parallel"], pairs["--ctx-size"]) == ("8", str(8 * 2048))
    assert pairs["--model"] == str(tmp_path / "m.gguf")
    # prompts in the in-process engine's chunks
    assert pairs["--batch-size"] == pairs["--ubatch-size"] == str(PREFILL_CHUNK)
    # attention as llama-cpp-python computes it in-process (same log-probabilities)
    assert pairs["--flash-attn"] == "off" and pairs["--ctx-checkpoints"] == "0"
    assert "--swa-full" in command


def test_an_explicit_binary_that_is_missing_is_refused(tmp_path: Path) -> None:
    assert find_server_binary(tmp_path / "nothing") is None
    done = subprocess.run([sys.executable, "-m", "policy_desktop", "serve-model",
                           "--server-binary", str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and "not an executable file" in done.stderr


@pytest.mark.slow
def test_real_llama_server_answers_a_scenario_with_a_confidence() -> None:
    _binary_or_skip()
    from policy_desktop.engine.endpoint import EndpointModel
    from policy_desktop.engine.prompts import (
        DEFAULT_PROMPT_VERSION,
        PromptCatalog,
        build_prompt,
        load_policy,
    )
    from policy_desktop.engine.scenarios import load_suite

    scenarios = load_suite().select(full=False, only=None)
    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    policy = load_policy(None)
    prompts = [(parts.system, parts.user) for parts in (
        build_prompt(version, policy, s.situation, s.team_context) for s in scenarios)]
    with start_server(parallel=2) as server:
        engine = EndpointModel(server.url)
        assert engine.info.api == "completion"
        assert (engine.info.name, engine.info.quantization) == ("Gemma 3 270m", "Q4_K_M")
        answer = engine.decide(*prompts[0])
        both = engine.decide_many(prompts[:2], parallel=2)
    assert answer.decision in DECISIONS and answer.risk_level in RISK_LEVELS
    assert answer.reasoning is not None and answer.classification is not None
    assert answer.confidence is not None and 0.0 < answer.confidence <= 1.0
    assert answer.prompt_tokens > 100 and answer.generated_tokens > 5
    assert all(a.decision in DECISIONS and a.confidence is not None for a in both)
    # the shared part evaluated in one slot, the other slot restored from its saved cache
    counts = engine.prefixes.counts
    assert (counts.evaluated, counts.restored, counts.failures) == (1, 1, [])


def _scenario_prompts(count: int) -> list[tuple[str, str]]:
    from policy_desktop.engine.prompts import (
        DEFAULT_PROMPT_VERSION,
        PromptCatalog,
        build_prompt,
        load_policy,
    )
    from policy_desktop.engine.scenarios import load_suite

    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    policy = load_policy(None)
    scenarios = load_suite().select(full=True, only=None)[:count]
    return [(parts.system, parts.user) for parts in (
        build_prompt(version, policy, s.situation, s.team_context) for s in scenarios)]


@pytest.mark.slow
def test_one_slot_decides_as_the_in_process_engine() -> None:
    """The user part is evaluated from the system part's end, as in-process: with the
    server's own reuse of the last prompt's "## Situation" header 6 of 40 decisions
    differed (near-ties of the bundled base model)."""
    _binary_or_skip()
    from policy_desktop.engine.endpoint import EndpointModel
    from policy_desktop.engine.llm import EngineSettings, PolicyModel

    prompts = _scenario_prompts(8)
    local = PolicyModel(EngineSettings())
    try:
        expected = [local.decide(*prompt) for prompt in prompts]
    finally:
        local.close()
    with start_server(parallel=1) as server:
        engine = EndpointModel(server.url)
        answers = [engine.decide(*prompt) for prompt in prompts]
    assert [a.decision for a in answers] == [e.decision for e in expected]
    for answer, reference in zip(answers, expected, strict=True):
        assert answer.confidence == pytest.approx(reference.confidence, abs=2e-4)


@pytest.mark.slow
def test_serve_model_command_starts_and_stops_on_sigterm() -> None:
    _binary_or_skip()
    process = subprocess.Popen([sys.executable, "-m", "policy_desktop", "serve-model",
                                "--parallel", "2", "--port", "0", "--ctx-per-slot", "1024"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "with 2 slots of 1024 tokens" in line, line + process.stderr.read()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(url + "/props", timeout=30) as reply:
            props = json.loads(reply.read())
        assert props["total_slots"] == 2
        assert props["default_generation_settings"]["n_ctx"] == 1024
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and "stopped" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=5)
