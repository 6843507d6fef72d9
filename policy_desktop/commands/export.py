"""``policy-desktop export``: write the gated training export into a folder.

Exit status: 0 written; 1 refused or failed (too few corrections, non-empty folder without
``--force``, missing database, broken suite or prompt files, disk errors); 2 an invalid
option value (e.g. ``--min-corrections`` below 50). Every failure is one line on stderr
(a broken suite file lists each of its problems).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy_desktop.commands.common import error, guarded, open_log
from policy_desktop.export.atomic import OutputExistsError
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    MANIFEST_FILE,
    PROVENANCE_FILE,
    SEED_JSON_FILE,
    ExportOptions,
)
from policy_desktop.export.training import ExportResult, export_training_data

_UNITS = {FEWSHOT_FILE: ("example", "examples"), SEED_JSON_FILE: ("entry", "entries"),
          CHAT_FILE: ("line", "lines"), DPO_FILE: ("pair", "pairs"),
          PROVENANCE_FILE: ("line", "lines")}


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    """The export options the command line asks for (raises ValueError if invalid)."""
    return ExportOptions(
        fewshot_count=args.fewshot_count,
        min_corrections=args.min_corrections,
        include_accepted=args.include_accepted,
        allow_suite_examples=args.allow_suite_examples,
        scenarios_path=Path(args.scenarios) if args.scenarios else None,
        force=args.force,
        on_progress=_TerminalProgress() if sys.stderr.isatty() else None,
    )


class _TerminalProgress:
    """One self-overwriting status line on a terminal's stderr."""

    def __init__(self) -> None:
        self.width = 0

    def __call__(self, stage: str, fraction: float) -> None:
        text = f"{fraction * 100:5.1f}%  {stage}"
        print("\r" + text.ljust(self.width), end="", file=sys.stderr, flush=True)
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            print("\r" + " " * self.width + "\r", end="", file=sys.stderr, flush=True)
            self.width = 0


def summary(result: ExportResult, options: ExportOptions) -> str:
    """What was written, what was left out, and the next step."""
    preview = result.preview
    lines = [f"Exported training data to {result.output_dir}/"]
    width = max(len(name) for name in (*result.files, MANIFEST_FILE))
    for name, info in sorted(result.files.items()):
        unit = _UNITS.get(name)
        detail = f"{info.records:>8,} {unit[info.records != 1]}" if unit else ""
        if name == FEWSHOT_FILE and preview.fewshot_per_type:
            balance = ", ".join(f"{kind} {n}" for kind, n in preview.fewshot_per_type.items())
            detail += f" ({balance})"
        lines.append(f"  {name:<{width}}  {detail}".rstrip())
    lines.append(f"  {MANIFEST_FILE}")
    chosen = preview.lines.get(FEWSHOT_FILE)
    if chosen is not None and chosen < options.fewshot_count:
        lines.append(f"Note: only {chosen} of {options.fewshot_count} few-shot examples: the "
                     "other eligible corrections are (near-)duplicates of those chosen")
    excluded = []
    if preview.suite_examples_excluded:
        excluded.append(f"{preview.suite_examples_excluded} of evaluation-suite situations")
    if preview.empty_reasonings_excluded:
        excluded.append(f"{preview.empty_reasonings_excluded} with an empty reasoning")
    if preview.unusable_excluded:
        excluded.append(f"{preview.unusable_excluded} without a usable decision or situation")
    if excluded:
        lines.append(f"Left out: {'; '.join(excluded)} (see analysis_report.json)")
    if FEWSHOT_FILE in result.files:
        lines.append("Next: policy-desktop prompts create NAME --from "
                     f"{result.output_dir / FEWSHOT_FILE}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except ValueError as problem:
        error(str(problem))
        return 2

    def export() -> int:
        with open_log(args.db, create=False) as log:
            result = export_training_data(log, Path(args.directory), options)
        _clear_progress(options)
        print(summary(result, options))
        return 0

    try:
        return guarded(export)
    except (OutputExistsError, ValueError, OSError) as problem:
        error(str(problem))
        return 1
    finally:
        _clear_progress(options)


def _clear_progress(options: ExportOptions) -> None:
    if isinstance(options.on_progress, _TerminalProgress):
        options.on_progress.clear()
