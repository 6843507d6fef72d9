"""Every command in the README is one the program accepts, and its examples work as shown."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from policy_desktop.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _commands(program: str) -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(program):
                lines.append(line)
    return lines


def test_readme_has_exactly_two_quick_start_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.DOTALL)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


@pytest.mark.parametrize("line", _commands("policy-desktop"))
def test_every_policy_desktop_command_parses(line: str) -> None:
    command = line.split(" > ")[0].split(" | ")[0]  # shell redirections are not arguments
    words = shlex.split(command.replace("RUN_A", "run_a").replace("RUN_B", "run_b"))
    args = build_parser().parse_args(words[1:])
    assert args.command is not None


def test_make_targets_named_in_the_readme_exist() -> None:
    targets = {line.split()[1] for line in _commands("make")}
    assert {"run", "test", "lint", "bench"} <= targets
    result = subprocess.run(["make", "-n", *sorted(targets)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_desktop.store import PolicyDecisionLog

    examples = _blocks("python")
    assert len(examples) >= 2  # the store, the background logger
    for number, example in enumerate(examples):
        folder = tmp_path / str(number)
        folder.mkdir()
        monkeypatch.chdir(folder)
        exec(compile(example, "README.md", "exec"), {})
        with PolicyDecisionLog(folder / "policy_decisions.db") as log:
            assert log.get_statistics()["total"] == 1


def test_jsonl_example_imports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [example] = _blocks("json")
    record = json.loads(example)
    log_file = tmp_path / "decisions.jsonl"
    log_file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    database = tmp_path / "x.db"
    assert main(["import", str(log_file), "--db", str(database)]) == 0
    assert "imported 1" in capsys.readouterr().out
    assert main(["dump", "--db", str(database)]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert {key: dumped[key] for key in record} == record


def test_documented_paths_match_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_desktop import paths

    monkeypatch.setenv("XDG_DATA_HOME", os.path.expanduser("~/.local/share"))
    assert paths.default_database() == os.path.expanduser(
        "~/.local/share/policy-desktop/policy_decisions.db")
    assert "~/.local/share/policy-desktop/policy_decisions.db" in README
    assert "$POLICY_DESKTOP_DB" in README


def test_keyboard_table_lists_every_shortcut() -> None:
    from policy_desktop.ui.shortcuts import SHORTCUTS

    table = README.split("| Key | Action |", 1)[1].split("\n\n", 1)[0]
    for shortcut in SHORTCUTS:
        first = shortcut.keys[0].replace("Return", "Enter")
        assert f"`{first}`" in table, f"{first} ({shortcut.action_id}) missing from the README"
