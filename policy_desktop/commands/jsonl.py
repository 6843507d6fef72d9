"""``policy-desktop import`` and ``policy-desktop dump`` (JSON lines)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from policy_desktop.commands.common import error, guarded, open_log
from policy_desktop.store.jsonl import ImportResult, LineProblem, dump_jsonl, import_jsonl


def _report(problem: LineProblem) -> None:
    print(problem, file=sys.stderr, flush=True)


def _import(args: argparse.Namespace) -> int:
    missing = [name for name in args.files if name != "-" and not Path(name).is_file()]
    for name in missing:
        error(f"{name}: no such file")
    if missing:
        return 1
    result = ImportResult()
    with open_log(args.db, create=True) as log:
        for name in args.files:
            warned = len(result.warnings)
            if name == "-":
                stdin = getattr(sys.stdin, "buffer", sys.stdin)
                import_jsonl(log, stdin, "<stdin>", result, report=_report)
            else:
                with open(name, "rb") as handle:  # lines are decoded one by one
                    import_jsonl(log, handle, name, result, report=_report)
            for warning in result.warnings[warned:]:
                print(warning, file=sys.stderr, flush=True)
    print(result.summary())
    return 0 if result.ok else 1


def _dump(args: argparse.Namespace) -> int:
    out = sys.stdout
    if (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "") != "utf8":
        out.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    with open_log(args.db, create=False) as log:
        try:
            dump_jsonl(log, out, args.selection)
            out.flush()
        except BrokenPipeError:  # e.g. `| head`: stop quietly, and stop Python's exit flush
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            return 0
    return 0


def run(args: argparse.Namespace) -> int:
    action = _import if args.command == "import" else _dump
    return guarded(lambda: action(args))
