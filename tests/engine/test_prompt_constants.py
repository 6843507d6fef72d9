"""The prompt layout's constants have one definition each; the decoder agrees with it."""

from __future__ import annotations

import ast
from pathlib import Path

import policy_desktop
from policy_desktop.engine import llm, prompts, skeleton_decoder
from policy_desktop.engine.answer_parsing import parse_answer
from policy_desktop.engine.prompts import format_answer


def _definitions(name: str) -> list[str]:
    """Modules of the package that assign ``name`` at their top level."""
    root = Path(policy_desktop.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                found.append(path.relative_to(root).as_posix())
    return found


def test_answer_primer_is_defined_once_and_reexported() -> None:
    assert _definitions("ANSWER_PRIMER") == ["engine/prompts.py"]
    assert skeleton_decoder.ANSWER_PRIMER is prompts.ANSWER_PRIMER is llm.ANSWER_PRIMER


def test_prompt_separator_is_defined_once() -> None:
    assert _definitions("PROMPT_SEPARATOR") == ["engine/prompts.py"]


def test_the_decoder_opens_the_answer_with_the_prompt_formats_primer() -> None:
    """The skeleton (built from the answer schema) starts where the examples' answers do."""
    assert skeleton_decoder.SKELETON[0].opening == prompts.ANSWER_PRIMER
    line = format_answer("deny", "routine_read_access", "low", "Members may read.")
    assert line.startswith(prompts.ANSWER_PRIMER + "deny")
    assert parse_answer(line).decision == "deny"
