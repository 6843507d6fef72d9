"""Stand-ins for the model's child process (``ModelProcess(target=...)``), for fast tests.

They speak the real pipe protocol of :mod:`policy_desktop.engine.model_process` and run
in a real ``spawn`` child, so crashes are real signals; only llama.cpp is left out (the
real model's child is tested in the slow tests).
"""

from __future__ import annotations

import json
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from policy_desktop.engine.child_process import exit_with_parent
from policy_desktop.engine.llm import EngineSettings, ModelAnswer


def _answer(decision: str) -> ModelAnswer:
    text = json.dumps({"decision": decision, "classification": "routine_read_access",
                       "risk_level": "low", "reasoning": "Scripted answer."})
    return ModelAnswer(decision=decision, classification="routine_read_access",
                       risk_level="low", reasoning="Scripted answer.", full_response=text,
                       confidence=0.75, prompt_tokens=40, evaluated_tokens=40,
                       generated_tokens=20, prefill_seconds=0.01, decode_seconds=0.01,
                       seconds=0.02)


def answers(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    """A well-behaved model: progress, streamed text, then ``deny``; slow enough to kill
    (about 1.5 s an answer, checking the stop flag every 0.05 s)."""
    exit_with_parent()
    connection.send(("status", "Loading the scripted model…"))
    connection.send(("ready", 0.01))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message[0] == "close":
            return
        connection.send(("progress", 0, 40))
        for step in range(30):
            if stop.is_set():
                connection.send(("error", "cancelled", "stopped by request"))
                break
            time.sleep(0.05)
            if step == 10:
                connection.send(("progress", 40, 40))
                connection.send(("text", '{"decision": "'))
        else:
            connection.send(("text", 'deny", ...}'))
            connection.send(("answer", _answer("deny")))


def crashes_on_load(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    connection.send(("status", "Loading…"))
    os.kill(os.getpid(), signal.SIGSEGV)


def crashes_on_decide(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    """Loads, then dies of SIGSEGV at the first decode (what AMX kernels did in a VM)."""
    connection.send(("ready", 0.01))
    connection.recv()
    connection.send(("text", '{"decision": "'))
    os.kill(os.getpid(), signal.SIGSEGV)


def hangs_on_decide(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    """Loads, then never answers nor notices a stop request."""
    exit_with_parent(poll_seconds=0.2)
    connection.send(("ready", 0.01))
    connection.recv()
    time.sleep(3600)


def reports_a_load_error(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    connection.send(("error", "model_file", "llama.cpp could not load the model (bad)"))
