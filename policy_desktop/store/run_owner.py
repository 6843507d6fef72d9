"""Which process owns a running run, and whether that process still exists.

A run records its host, pid and the process's start (the boot id and the start time
in clock ticks from ``/proc/PID/stat``), so a pid reused by another program after a
crash or a reboot is not taken for the run's process.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    """A process told apart from any later one with the same pid."""

    host: str
    pid: int
    start: str | None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (after the parenthesised name, which may hold spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_start(pid: int) -> str | None:
    """``<boot id>:<start ticks>`` of a live process, None where /proc cannot tell."""
    ticks = _start_ticks(pid)
    boot = _boot_id()
    return f"{boot}:{ticks}" if ticks is not None and boot is not None else None


def current_process() -> ProcessIdentity:
    """This process."""
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), pid, process_start(pid))


def is_gone(owner: ProcessIdentity) -> bool | None:
    """True when the owner (on this host) has ended; None when it cannot be told."""
    if owner.host != socket.gethostname():
        return None
    if owner.start is not None and _boot_id() is not None:
        return process_start(owner.pid) != owner.start
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False
