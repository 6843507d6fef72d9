"""``policy-desktop prompts``: list versions, and close the loop from an export."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import build_log, corrections, fake_embed

from policy_desktop.cli import main
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    build_prompt,
    format_examples,
    load_policy,
    parse_examples,
)
from policy_desktop.export.options import FEWSHOT_FILE, ExportOptions
from policy_desktop.export.training import ExportResult, export_training_data


@pytest.fixture
def exported(tmp_path: Path) -> ExportResult:
    specs = [*corrections(30), *corrections(12, "require_mfa"), *corrections(8, "allow", "deny")]
    with build_log(tmp_path / "decisions.db", specs) as log:
        return export_training_data(log, tmp_path / "out", ExportOptions(embed=fake_embed))


def rows(output: str) -> dict[str, list[str]]:
    """The listing's table rows by name (columns split on runs of 2+ spaces)."""
    import re

    table = output.split("\n\n")[0].splitlines()[1:]
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in table)}


def test_list_shows_the_builtin_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NAME", "KIND", "EXAMPLES", "BASE", "DESCRIPTION"]
    row = rows(out)[DEFAULT_PROMPT_VERSION]
    assert row[1:4] == ["builtin", "8", "-"]
    assert main(["prompts", "list"]) == 0
    assert capsys.readouterr().out == out


def test_create_from_an_export_closes_the_loop(exported: ExportResult,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    examples_file = exported.output_dir / FEWSHOT_FILE
    code = main(["prompts", "create", "from_reviews", "--from", str(examples_file),
                 "--description", "First export"])
    assert code == 0
    assert "Created prompt version 'from_reviews': 8 examples" in capsys.readouterr().out

    assert main(["prompts"]) == 0
    row = rows(capsys.readouterr().out)["from_reviews"]
    assert row == ["from_reviews", "custom", "8", DEFAULT_PROMPT_VERSION, "First export"]

    version = PromptCatalog().get("from_reviews")
    exported_examples = parse_examples(examples_file.read_text(encoding="utf-8"))
    assert list(version.examples) == exported_examples == list(exported.preview.fewshot)
    base = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    assert version.instructions == base.instructions
    prompt = build_prompt(version, load_policy(), {"actor": "x", "action": "read"}, None)
    assert format_examples(exported_examples).rstrip() in prompt.system
    assert format_examples(base.examples).rstrip() not in prompt.system


def test_existing_version_needs_force(exported: ExportResult,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    examples_file = str(exported.output_dir / FEWSHOT_FILE)
    assert main(["prompts", "create", "mine", "--from", examples_file]) == 0
    capsys.readouterr()
    assert main(["prompts", "create", "mine", "--from", examples_file]) == 1
    assert capsys.readouterr().err == ("policy-desktop: error: prompt version 'mine' already "
                                       "exists; use --force to replace it\n")
    assert main(["prompts", "create", "mine", "--from", examples_file, "--force",
                 "--base", DEFAULT_PROMPT_VERSION, "--description", "again"]) == 0
    assert PromptCatalog().get("mine").description == "again"


@pytest.mark.parametrize(("args", "message"), [
    (["bad name!", "--from", "{file}"], "invalid prompt version name"),
    ([DEFAULT_PROMPT_VERSION, "--from", "{file}"], "is a builtin prompt version"),
    (["mine", "--from", "{file}", "--base", "nope"], "Unknown prompt version 'nope'"),
    (["mine", "--from", "{missing}"], "missing"),
    (["mine", "--from", "{garbage}"], "expected '### Situation'"),
])
def test_create_errors_are_one_line(exported: ExportResult, tmp_path: Path, args: list[str],
                                    message: str, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello\n", encoding="utf-8")
    paths = {"file": str(exported.output_dir / FEWSHOT_FILE),
             "missing": str(tmp_path / "missing.txt"), "garbage": str(garbage)}
    code = main(["prompts", "create", *(a.format(**paths) for a in args)])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1
    assert PromptCatalog().custom_names() == []


def test_broken_custom_version_is_listed_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    folder = PromptCatalog().custom_dir / "halfway"
    folder.mkdir(parents=True)
    (folder / "prompt.toml").write_text('description = "x"\n', encoding="utf-8")
    assert main(["prompts"]) == 0
    row = rows(capsys.readouterr().out)["halfway"]
    assert row[1] == "custom" and row[4].startswith("(unusable:")


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "huge"])
def test_create_refuses_devices_pipes_and_huge_files(tmp_path: Path, source: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``prompts create --from /dev/zero`` once grew to 21.9 GB."""
    import os

    if source == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif source == "huge":
        path = tmp_path / "huge.txt"
        with open(path, "wb") as handle:
            handle.truncate(17 * 1024 * 1024)  # sparse: no disk used
    else:
        path = Path(source)
    assert main(["prompts", "create", "mine", "--from", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("not a regular file" in err) if source != "huge" else ("too large" in err)
    assert "mine" not in PromptCatalog().custom_names()
