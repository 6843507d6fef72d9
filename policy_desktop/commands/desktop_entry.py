"""``policy-desktop install-desktop-entry [--uninstall]``: the application-menu entry."""

from __future__ import annotations

import argparse

from policy_desktop.commands.common import error
from policy_desktop.desktop_entry import install, uninstall


def run(args: argparse.Namespace) -> int:
    try:
        report = uninstall() if args.uninstall else install()
    except OSError as problem:  # missing packaging files, unwritable folder, ...
        error(str(problem))
        return 1
    for line in report.lines:
        print(line)
    return 0
