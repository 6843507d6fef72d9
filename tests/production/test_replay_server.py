"""Replay with the bundled model through the real llama-server (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_desktop.cli import main
from policy_desktop.commands.serve_model import find_server_binary, start_server
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.replay import ReplayStore
from policy_desktop.vocabulary import LOGGED_DECISIONS
from tests.replay_helpers import logged_set, snapshot


@pytest.mark.slow
def test_replay_through_llama_server_with_two_slots(db_path: Path, capsys) -> None:
    if find_server_binary() is None:
        reason = ("llama-server is not built (python3 packaging/build_llama_server.py "
                  "--python .venv/bin/python)")
        print(f"skipped: {reason}")
        pytest.skip(reason)
    with PolicyDecisionLog(db_path) as log:
        ids = logged_set(log)
    before = snapshot(db_path)
    with start_server(parallel=2, ctx_per_slot=4096) as server:
        code = main(["replay", "--db", str(db_path), "--endpoint", server.url,
                     "--parallel", "2", "--reviewed", "--last", "4", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "Gemma 3 270m" and data["model_version"] == "Q4_K_M"
    assert data["planned"] == data["replayed"] == 4
    assert data["accuracy"]["reviewed"] == 4
    assert 0.0 <= data["accuracy"]["mcnemar_exact_p"] <= 1.0
    assert snapshot(db_path) == before
    with PolicyDecisionLog(db_path, create=False) as log:
        [run] = ReplayStore(log).replay_runs()
        pairs = list(ReplayStore(log).pairs(run.run_id))
    assert {o.decision_id for o, _ in pairs} == {ids[a] for a in ("hal", "eve", "dan", "cat")}
    for _, answer in pairs:
        assert answer.decision in LOGGED_DECISIONS
        assert answer.prompt_tokens and answer.prompt_tokens > 100
        assert answer.full_response
