"""What every child process of the app shares: it dies with its parent; exit codes in words."""

from __future__ import annotations

import os
import signal
import threading
import time

_SIGNAL_MEANINGS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction: the build uses instructions this CPU cannot run",
    signal.SIGFPE: "arithmetic error",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed: out of memory, or stopped from outside",
    signal.SIGTERM: "terminated",
}


def describe_exit(exitcode: int | None) -> str:
    """``-11`` -> ``"SIGSEGV (segmentation fault)"``; ``3`` -> ``"exit status 3"``."""
    if exitcode is None:
        return "no exit status (still running)"
    if exitcode < 0:
        try:
            number = signal.Signals(-exitcode)
        except ValueError:
            return f"signal {-exitcode}"
        meaning = _SIGNAL_MEANINGS.get(number)
        return f"{number.name} ({meaning})" if meaning else number.name
    return f"exit status {exitcode}"


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """In a child: end this process as soon as its parent is gone.

    A killed GUI would otherwise leave its model or torch child running (and holding
    gigabytes) with PID 1 as its parent. A watcher thread, not ``PR_SET_PDEATHSIG``:
    that fires when the *thread* that started the child ends, and the app starts its
    children from worker threads.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
