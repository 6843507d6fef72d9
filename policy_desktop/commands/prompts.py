"""``policy-desktop prompts``: list prompt versions, or create one from exported examples.

``prompts`` / ``prompts list`` prints every version (builtin first) with its kind, example
count, base and description. ``prompts create NAME --from FILE`` makes a custom version
whose instructions come from ``--base`` (default: the default prompt version) and whose
few-shot examples are read from FILE, e.g. an export's ``fewshot_examples.txt``. Exit
status 0 on success, 1 with a one-line message otherwise.
"""

from __future__ import annotations

import argparse
import os
import stat
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


MAX_EXAMPLES_BYTES = 16 * 1024 * 1024
"""The largest examples file read (an export's few-shot file is a few kilobytes)."""


def check_examples_file(path: Path, limit: int = MAX_EXAMPLES_BYTES) -> str | None:
    """Why ``path`` cannot be an examples file (not a regular file, too big), or None.

    Opened without blocking and measured before anything is read, so a device
    (``/dev/zero``), a pipe or a huge file is refused instead of read into memory.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return f"{path}: missing"
    except OSError as problem:
        return f"{path}: cannot be read ({problem.strerror or problem})"
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return f"{path}: not a regular file (give the examples file, e.g. an export's " \
                   "fewshot_examples.txt)"
        if status.st_size > limit or len(os.read(descriptor, limit + 1)) > limit:
            return (f"{path}: too large for an examples file ({status.st_size:,} bytes; "
                    f"at most {limit:,})")
    finally:
        os.close(descriptor)
    return None


def _create(args: argparse.Namespace, catalog: PromptCatalog) -> int:
    problem = check_examples_file(Path(args.examples))
    if problem is not None:
        error(problem)
        return 1
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
