"""``policy-desktop import`` and ``policy-desktop dump`` (JSON lines)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy_desktop.commands.common import error, guarded, open_log
from policy_desktop.store.jsonl import ImportResult, dump_jsonl, import_jsonl


def _import(args: argparse.Namespace) -> int:
    missing = [name for name in args.files if name != "-" and not Path(name).is_file()]
    for name in missing:
        error(f"{name}: no such file")
    if missing:
        return 1
    result = ImportResult()
    with open_log(args.db, create=True) as log:
        for name in args.files:
            if name == "-":
                import_jsonl(log, sys.stdin, "<stdin>", result)
                continue
            try:
                with open(name, encoding="utf-8") as handle:
                    import_jsonl(log, handle, name, result)
            except UnicodeDecodeError as problem:
                error(f"{name}: not UTF-8 text ({problem.reason})")
                result.invalid += 1
    for problem in result.problems:
        print(problem, file=sys.stderr)
    hidden = result.invalid + result.conflicts - len(result.problems)
    if hidden > 0:
        print(f"... and {hidden} more problems", file=sys.stderr)
    print(result.summary())
    return 0 if result.invalid == 0 and result.conflicts == 0 else 1


def _dump(args: argparse.Namespace) -> int:
    with open_log(args.db, create=False) as log:
        try:
            dump_jsonl(log, sys.stdout, args.selection)
        except BrokenPipeError:  # e.g. `| head`
            sys.stderr.close()
            return 0
    return 0


def run(args: argparse.Namespace) -> int:
    action = _import if args.command == "import" else _dump
    return guarded(lambda: action(args))
