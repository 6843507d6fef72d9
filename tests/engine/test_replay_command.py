"""`policy-desktop replay`: selection, report text and JSON, resume, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tests.fake_model_servers as fakes
from policy_desktop.cli import main
from policy_desktop.engine.model_process import ModelProcess
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.replay import ReplayStore
from tests.replay_helpers import ChatServer, logged_set, serving, snapshot


@pytest.fixture
def logged(db_path: Path) -> dict[str, str]:
    with PolicyDecisionLog(db_path) as log:
        return logged_set(log)


@pytest.fixture
def server():
    with serving(ChatServer()) as running:
        yield running


def replay_ids(db_path: Path) -> list[str]:
    with PolicyDecisionLog(db_path, create=False) as log:
        return [run.run_id for run in ReplayStore(log).replay_runs()]


def test_text_report_puts_dangerous_flips_first(db_path, logged, server, capsys) -> None:
    before = snapshot(db_path)
    code = main(["replay", "--db", str(db_path), "--endpoint", server.url,
                 "--prompt-version", "v3_tuned_short", "--parallel", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert snapshot(db_path) == before
    assert server.requests == 8
    lines = out.splitlines()
    assert lines[0].startswith("Replay run_") and "8 of 8" in lines[0]
    assert "chat-candidate" in lines[0] and "v3_tuned_short" in lines[0]
    assert lines[2].startswith("DANGEROUS FLIPS: 3")
    assert out.index("DANGEROUS FLIPS") < out.index("Flip matrix")
    for actor in ("bob", "eve", "fay"):
        assert logged[actor] in out
    matrix = out[out.index("Flip matrix"):out.index("Against the human")]
    row = next(line for line in matrix.splitlines() if line.startswith("deny "))
    assert row.split()[1:] == ["3", ".", ".", "."]  # deny -> allow 3 (columns: allow deny..)
    assert "original  66.7%" in out and "candidate 50.0%" in out
    assert "McNemar exact p = 1" in out
    assert re.search(r"difference -0\.167 \(95% CI -0\.\d+ to \+0\.\d+", out)
    assert "By role:" in out and "By action:" in out


def test_reviewed_last_json(db_path, logged, server, capsys) -> None:
    code = main(["replay", "--db", str(db_path), "--endpoint", server.url, "--reviewed",
                 "--last", "3", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["planned"] == data["replayed"] == 3
    # The newest three reviewed: hal (10:07), eve (10:04), dan (10:03).
    chosen = {cell_id for cell in data["flip_matrix"] for cell_id in cell["original_ids"]}
    assert chosen == {logged["hal"], logged["eve"], logged["dan"]}
    assert data["accuracy"]["reviewed"] == 3
    assert data["selection"]["view"] == "reviewed" and data["selection"]["limit"] == 3
    assert [d["original_id"] for d in data["dangerous_flips"]] == [logged["eve"]]


def test_filter_by_time_and_decision(db_path, logged, server, capsys) -> None:
    code = main(["replay", "--db", str(db_path), "--endpoint", server.url, "--json",
                 "--filter", "decision=deny", "--filter", "since=2026-03-01T10:02:00Z"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    chosen = {i for cell in data["flip_matrix"] for i in cell["original_ids"]}
    assert chosen == {logged["cat"], logged["fay"]}  # bob (deny) is at 10:01


def test_bad_filters_are_refused_before_anything_runs(db_path, logged, server, capsys) -> None:
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url,
                 "--filter", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url,
                 "--filter", "since=yesterday"]) == 2
    assert main(["replay", "--db", str(db_path), "--parallel", "4"]) == 2
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url,
                 "--prompt-version", "v9_nonsense"]) == 2
    assert server.requests == 0 and replay_ids(db_path) == []


def test_model_crash_exits_3_and_resume_finishes(db_path, logged, server, capsys,
                                                 monkeypatch) -> None:
    import policy_desktop.commands.run as run_command

    real_start = run_command.start_model

    def crashing(endpoint, settings, status):
        crashing_settings = settings.__class__(model_path=server_model_path())
        model = ModelProcess(crashing_settings, target=fakes.crashes_on_decide)
        model.info = type("Info", (), {"name": "chat-candidate", "quantization": "unknown",
                                       "path": server.url})()
        return model

    monkeypatch.setattr(run_command, "start_model", crashing)
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url]) == 3
    err = capsys.readouterr().err
    assert "SIGSEGV" in err and "--resume" in err
    [run_id] = replay_ids(db_path)
    with PolicyDecisionLog(db_path, create=False) as log:
        run = log.get_run(run_id)
        assert run is not None and run.status == "failed"
        assert len(ReplayStore(log).pending(run_id)) == 8

    monkeypatch.setattr(run_command, "start_model", real_start)
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url,
                 "--resume", run_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["replay_run"] == run_id and data["replayed"] == 8
    assert replay_ids(db_path) == [run_id]

    assert main(["replay", "--db", str(db_path), "--report", run_id[:12]]) == 0
    assert "8 of 8" in capsys.readouterr().out


def server_model_path() -> Path:
    from policy_desktop.engine.bundled_model import bundled_model_path

    return bundled_model_path()


def test_resume_with_another_prompt_is_refused(db_path, logged, server, capsys) -> None:
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url, "--last", "1"]) == 0
    [run_id] = replay_ids(db_path)
    capsys.readouterr()
    assert main(["replay", "--db", str(db_path), "--endpoint", server.url, "--resume", run_id,
                 "--prompt-version", "v3_tuned_short"]) == 2
    assert "prompt version" in capsys.readouterr().err


def test_report_of_an_ordinary_run_is_refused(db_path, logged, capsys) -> None:
    with PolicyDecisionLog(db_path) as log:
        run_id = log.start_run(model_name="m", prompt_version="p")
    assert main(["replay", "--db", str(db_path), "--report", run_id]) == 2
    assert "no replay run" in capsys.readouterr().err
