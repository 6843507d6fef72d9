"""``policy-desktop review``: review decisions in the terminal (no display needed).

Exit status: 0 after the last decision, ``q`` or the end of input; 130 after
Ctrl+C (every completed review is saved either way); 1 when the database
cannot be opened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from policy_desktop.commands.common import guarded, open_log
from policy_desktop.commands.stats import readiness_line, statistics_text
from policy_desktop.terminal_review import Terminal, run_review


def _terminal() -> Terminal:
    """The process's own terminal: :func:`input` (line editing) when interactive, else
    ``readline`` with each answer echoed when the input is piped in."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (gives input() line editing and history)
    return Terminal(sys.stdin, sys.stdout, use_input=interactive,
                    echo=not interactive and not sys.stdin.isatty())


def run(args: argparse.Namespace) -> int:
    def review() -> int:
        with open_log(args.db, create=False) as log:
            if args.stats:
                print(statistics_text(log))
                return 0
            return run_review(
                log, _terminal(), mode=args.mode, reviewer=args.reviewer,
                environment_user=os.environ.get("USER"),
                readiness=lambda: readiness_line(log.get_statistics()))

    try:
        return guarded(review)
    except BrokenPipeError:  # e.g. `| head`: completed reviews are saved; stay quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
