"""Helpers of the production-traffic tests: decisions, a process holding SQLite's write lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from policy_desktop.store import PolicyDecision

ROOT = Path(__file__).resolve().parents[2]


def decision(index: int, **overrides: Any) -> PolicyDecision:
    """A valid decision whose situation names ``index``."""
    fields: dict[str, Any] = {
        "situation": {"actor": f"user{index}", "action": "read", "target": f"doc/{index}"},
        "model_name": "prod-model", "model_version": "Q4_K_M", "prompt_version": "v1",
        "decision": ("allow", "deny", "require_mfa", "require_attestation")[index % 4],
        "reasoning": f"reason {index}", "tags": ["production"],
    }
    fields.update(overrides)
    return PolicyDecision(**fields)


def record(index: int, **overrides: Any) -> dict[str, Any]:
    """The JSON form of :func:`decision` (an import line or an ingest event)."""
    values = decision(index).to_dict()
    values["timestamp"] = f"2026-11-27T10:{index // 60 % 60:02d}:{index % 60:02d}.000000+00:00"
    values = {key: value for key, value in values.items() if value not in (None, False)}
    values.update(overrides)
    return values


class WriteLockHolder:
    """Another process that holds ``BEGIN IMMEDIATE`` on a SQLite file until released."""

    def __init__(self, path: Path) -> None:
        code = textwrap.dedent(f"""
            import sqlite3, sys
            connection = sqlite3.connect({str(path)!r}, isolation_level=None, timeout=30)
            connection.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            sys.stdin.readline()
            connection.execute("COMMIT")
            connection.close()
        """)
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "locked":
            self.process.kill()
            self.process.communicate()
            raise RuntimeError(f"the lock holder did not start: {line!r}")

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> WriteLockHolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
