"""Developer tools live in ``tools/``, outside the shipped package, and still run from there."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import policy_desktop
from policy_desktop.store import PolicyDecisionLog

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
TOOL_MODULES = {"demo_data", "screenshots"}


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_shipped_package_holds_and_imports_no_developer_tool() -> None:
    package = Path(policy_desktop.__file__).parent
    for path in package.rglob("*.py"):
        assert path.stem not in TOOL_MODULES, f"{path} is a developer tool"
        for name in _imported_names(path):
            assert name.split(".")[-1] not in TOOL_MODULES, f"{path} imports {name}"


def test_demo_data_builds_a_log_from_the_tools_folder(ui_db: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TOOLS))
    from demo_data import build_demo_log

    with PolicyDecisionLog(ui_db) as log:
        build_demo_log(log, 40)
        decisions = log.get_all_decisions()
        runs = log.list_runs()
    assert len(decisions) == 40
    assert len(runs) == 2
    for run in runs:  # each run lists the scenarios its decisions answered
        answered = {d.scenario_id for d in decisions if d.run_id == run.run_id}
        assert run.scenario_ids and set(run.scenario_ids) == answered - {None}


def test_the_screenshot_tool_runs_as_a_script() -> None:
    done = subprocess.run([sys.executable, str(TOOLS / "screenshots.py"), "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "--desk" in done.stdout
