"""``policy-desktop`` / ``policy-desktop gui [--db PATH]``: open the desktop app."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from policy_desktop.commands.common import error

NO_DISPLAY = ("no display available (DISPLAY and WAYLAND_DISPLAY are not set); "
              "over SSH, review in the terminal with `policy-desktop review`")


def display_available(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt can show a window: a display is set, or a Qt platform is chosen."""
    if not platform.startswith("linux"):
        return True
    if environ.get("QT_QPA_PLATFORM", "").strip():
        return True
    return bool(environ.get("DISPLAY", "").strip() or environ.get("WAYLAND_DISPLAY", "").strip())


def run(args: argparse.Namespace) -> int:
    if not display_available(os.environ):
        error(NO_DISPLAY)
        return 1
    from policy_desktop.app import main

    return main(args.db)
