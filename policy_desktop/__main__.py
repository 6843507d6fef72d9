"""``python -m policy_desktop`` is the same command as ``policy-desktop``."""

import sys

from policy_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
