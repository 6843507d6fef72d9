"""``policy-desktop export``: exit codes, messages and options."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from export_helpers import Spec, accepted, build_log, corrections, fake_embed, listing

from policy_desktop.cli import main
from policy_desktop.engine.prompts import parse_examples
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export import training
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
)


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses MiniLM; these tests use the fast deterministic stand-in."""
    monkeypatch.setattr(training, "default_embed", lambda: fake_embed)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.db"
    suite_situation = dict(load_suite().scenarios[0].situation)
    specs = [*corrections(50), Spec(situation=suite_situation), *accepted(4)]
    build_log(path, specs).close()
    return path


def run_cli(*args: str) -> int:
    return main(list(args))


def test_too_few_corrections_exit_1_with_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "decisions.db"
    build_log(path, corrections(49)).close()
    code = run_cli("export", str(tmp_path / "out"), "--db", str(path))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err == ("policy-desktop: error: 49 corrections so far; 1 more needed before "
                            "training data can be exported (minimum 50)\n")
    assert not (tmp_path / "out").exists()


def test_default_folder_in_the_current_directory(db: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_cli("--db", str(db), "export") == 0
    out = capsys.readouterr().out
    assert listing(work) == ["training_export"]
    assert FEWSHOT_FILE in listing(work / "training_export")
    assert "Exported training data to training_export/" in out
    assert "Left out: 1 of evaluation-suite situations" in out
    assert "prompts create NAME --from training_export/fewshot_examples.txt" in out
    assert "Note: only" not in out


def test_lowering_the_gate_is_a_usage_error(db: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("export", str(tmp_path / "out"), "--db", str(db), "--min-corrections", "40")
    assert code == 2
    assert "cannot be lowered below 50" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_raised_gate_refuses(db: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("export", str(tmp_path / "out"), "--db", str(db), "--min-corrections", "80")
    assert code == 1
    assert "51 corrections so far; 29 more needed" in capsys.readouterr().err


def test_non_empty_folder_needs_force(db: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x", encoding="utf-8")
    assert run_cli("export", str(out), "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty; use --force" in err
    assert listing(out) == ["mine.txt"]
    assert run_cli("export", str(out), "--db", str(db), "--force") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds more than a previous export (mine.txt)" in err
    assert listing(out) == ["mine.txt"]


def test_force_replaces_a_previous_export(db: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run_cli("export", str(out), "--db", str(db)) == 0
    out.chmod(0o750)
    first = (out / MANIFEST_FILE).read_text(encoding="utf-8")
    assert run_cli("export", str(out), "--db", str(db), "--force") == 0
    assert (out / MANIFEST_FILE).read_text(encoding="utf-8") != first or listing(out)
    assert out.stat().st_mode & 0o777 == 0o750
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_force_never_replaces_the_folder_holding_the_database(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--db data/policy.db export data --force`` once deleted the database and its reviews."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    database = data / "policy.db"
    database.write_bytes(db.read_bytes())
    (data / "notes.txt").write_text("unrelated", encoding="utf-8")
    before = {name: (data / name).read_bytes() for name in listing(data)}
    assert run_cli("--db", str(database), "export", str(data), "--force") == 1
    err = capsys.readouterr().err
    assert "holds more than a previous export (notes.txt, policy.db, policy.db-shm" in err
    assert {name: (data / name).read_bytes() for name in listing(data)} == before
    assert data.stat().st_mode & 0o777 == 0o755
    # a previous export with the database put into it later: still refused
    export_dir = tmp_path / "export"
    assert run_cli("--db", str(db), "export", str(export_dir)) == 0
    moved = export_dir / "policy.db"
    moved.write_bytes(db.read_bytes())
    assert run_cli("--db", str(moved), "export", str(export_dir), "--force") == 1
    assert "(policy.db, policy.db-shm, policy.db-wal)" in capsys.readouterr().err
    assert moved.is_file()


def test_a_new_export_folder_gets_the_umask_permissions(db: Path, tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        assert run_cli("export", str(tmp_path / "new"), "--db", str(db)) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o750


def test_missing_database_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("export", str(tmp_path / "out"), "--db", str(tmp_path / "none.db"))
    assert code == 1
    assert "no such database" in capsys.readouterr().err
    assert listing(tmp_path) == []


def test_options_reach_the_export(db: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = run_cli("export", str(out), "--db", str(db), "--fewshot-count", "3",
                   "--include-accepted", "--allow-suite-examples")
    assert code == 0
    assert len(parse_examples((out / FEWSHOT_FILE).read_text(encoding="utf-8"))) == 3
    assert len((out / CHAT_FILE).read_text(encoding="utf-8").splitlines()) == 55
    assert len((out / DPO_FILE).read_text(encoding="utf-8").splitlines()) == 51
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["options"]["include_accepted"] is True
    assert manifest["options"]["allow_suite_examples"] is True
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["quality"]["suite_examples_kept"] == 1
    assert "Left out" not in capsys.readouterr().out


def test_scenarios_option_and_broken_suite(db: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("this is not toml = [", encoding="utf-8")
    code = run_cli("export", str(tmp_path / "out"), "--db", str(db), "--scenarios", str(broken))
    assert code == 1
    assert "broken.toml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_too_few_distinct_examples_are_noted(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "decisions.db"
    same = [Spec(situation={"actor": "a", "action": "read"}, team_context="t",
                 review_reasoning=f"Same.~{i}") for i in range(50)]
    build_log(path, same).close()
    assert run_cli("export", str(tmp_path / "out"), "--db", str(path)) == 0
    out = capsys.readouterr().out
    assert re.search(r"fewshot_examples.txt +1 example \(deny 1\)\n", out)
    assert "Note: only 1 of 8 few-shot examples" in out


def test_fewshot_count_must_be_positive(db: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("export", str(tmp_path / "out"), "--db", str(db), "--fewshot-count", "0") == 2
    assert "fewshot_count must be at least 1" in capsys.readouterr().err
