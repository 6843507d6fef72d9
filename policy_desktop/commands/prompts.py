"""``policy-desktop prompts``: list prompt versions, or create one from exported examples.

``prompts`` / ``prompts list`` prints every version (builtin first) with its kind, example
count, base and description. ``prompts create NAME --from FILE`` makes a custom version
whose instructions come from ``--base`` (default: the default prompt version) and whose
few-shot examples are read from FILE, e.g. an export's ``fewshot_examples.txt``. Exit
status 0 on success, 1 with a one-line message otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from policy_desktop.commands.common import error
from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    PromptError,
    PromptVersion,
)


def version_row(version: PromptVersion) -> tuple[str, str, str, str, str]:
    """Name, kind, example count, base and description of one version."""
    kind = "builtin" if version.builtin else "custom"
    return (version.name, kind, str(len(version.examples)), version.base or "-",
            version.description)


def format_listing(catalog: PromptCatalog) -> str:
    """The table of every version; a broken custom version is listed with its problem."""
    header = ("NAME", "KIND", "EXAMPLES", "BASE", "DESCRIPTION")
    rows: list[tuple[str, str, str, str, str]] = []
    builtin = set(catalog.builtin_names())
    for name in catalog.names():
        try:
            rows.append(version_row(catalog.get(name)))
        except PromptError as problem:
            kind = "builtin" if name in builtin else "custom"
            rows.append((name, kind, "?", "-", f"(unusable: {problem})"))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)),
                        row[4]]).rstrip() for row in (header, *rows)]
    lines.append(f"\nCustom versions are kept in {catalog.custom_dir}")
    return "\n".join(lines)


def _create(args: argparse.Namespace, catalog: PromptCatalog) -> int:
    base = args.base or DEFAULT_PROMPT_VERSION
    if not args.force and args.name in catalog.custom_names():
        error(f"prompt version {args.name!r} already exists; use --force to replace it")
        return 1
    version = catalog.create(args.name, Path(args.examples), base=base,
                             description=args.description, overwrite=args.force)
    print(f"Created prompt version {version.name!r}: {len(version.examples)} examples, "
          f"instructions from {base}, in {version.folder}")
    print(f"Use it with: policy-desktop run --prompt-version {version.name}")
    return 0


def run(args: argparse.Namespace) -> int:
    catalog = PromptCatalog()
    try:
        if getattr(args, "prompts_command", None) == "create":
            return _create(args, catalog)
        print(format_listing(catalog))
        return 0
    except (PromptError, OSError) as problem:
        error(str(problem))
        return 1
