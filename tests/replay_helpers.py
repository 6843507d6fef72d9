"""Shared set-up for the replay tests: a logged, partly reviewed set and scripted models.

``ScriptedModel`` implements the runner's ``Model`` protocol in-process and answers by
rules on the prompt's situation text, so a test knows every answer in advance.
``ChatServer`` is a tiny OpenAI-compatible server answering by the same rules, for the
``replay --endpoint`` command (the real llama-server is in the slow test).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from policy_desktop.engine.llm import Cancelled, EngineSettings, ModelAnswer
from policy_desktop.store import PolicyDecision, PolicyDecisionLog

# actor -> (original decision, human final decision or None, candidate's answer)
SCRIPT: dict[str, tuple[str, str | None, str]] = {
    "ann": ("allow", "allow", "allow"),        # both right
    "bob": ("deny", "deny", "allow"),          # dangerous: human denied, candidate allows
    "cat": ("deny", "allow", "allow"),         # fixed by the candidate
    "dan": ("allow", "allow", "deny"),         # broken by the candidate
    "eve": ("require_mfa", "require_mfa", "allow"),  # dangerous (MFA asked)
    "fay": ("deny", None, "allow"),            # unreviewed, original denied: dangerous
    "gus": ("allow", None, "allow"),           # unreviewed, same
    "hal": ("require_attestation", "deny", "deny"),  # fixed
}
ROLES = {"ann": "member", "bob": "guest", "cat": "member", "dan": "maintainer",
         "eve": "maintainer", "fay": "guest", "gus": "member", "hal": "admin"}
CANDIDATE_RULES = {f"Actor: {actor}": answer for actor, (_, _, answer) in SCRIPT.items()}


def logged_set(log: PolicyDecisionLog) -> dict[str, str]:
    """Log one decision per scripted actor (reviewing those with a human answer);
    return actor -> decision id."""
    ids: dict[str, str] = {}
    for minute, (actor, (original, human, _)) in enumerate(SCRIPT.items()):
        decision = PolicyDecision(
            situation={"actor": actor, "role": ROLES[actor], "action": "read",
                       "target": f"docs/{actor}.md"},
            model_name="gemma-original", model_version="Q4", prompt_version="v2_fewshot_8examples",
            decision=original, reasoning=f"original reasoning for {actor}",
            timestamp=f"2026-03-01T10:{minute:02d}:00.000000+00:00")
        ids[actor] = log.log_decision(decision)
        if human is not None:
            log.mark_reviewed(ids[actor], None if human == original else human,
                              reviewer="rita")
    return ids


def answer(decision: str, seconds: float = 0.001) -> ModelAnswer:
    text = json.dumps({"decision": decision, "classification": "scripted",
                       "risk_level": "low", "reasoning": "Scripted replay answer."})
    return ModelAnswer(decision=decision, classification="scripted", risk_level="low",
                       reasoning="Scripted replay answer.", full_response=text,
                       confidence=0.8, prompt_tokens=50, evaluated_tokens=50,
                       generated_tokens=20, prefill_seconds=0.0, decode_seconds=0.0,
                       seconds=seconds)


@dataclass(frozen=True)
class ScriptedInfo:
    name: str = "scripted-candidate"
    quantization: str = "Q8_0"
    path: str = "/nowhere/scripted.gguf"


class ScriptedModel:
    """Answers by the first rule whose key occurs in the prompt; ``default`` otherwise.

    ``fail_after``: raise ``failure`` on that many-th call (e.g. ``ModelCrashed``).
    ``delay``: seconds per answer (to overlap parallel calls).
    """

    def __init__(self, rules: dict[str, str] | None = None, default: str = "deny", *,
                 name: str = "scripted-candidate", fail_after: int | None = None,
                 failure: BaseException | None = None, delay: float = 0.0) -> None:
        self.rules = dict(CANDIDATE_RULES if rules is None else rules)
        self.default = default
        self.info = ScriptedInfo(name=name)
        self.settings = EngineSettings()
        self.load_seconds = 0.0
        self.fail_after = fail_after
        self.failure = failure
        self.delay = delay
        self.calls: list[str] = []
        self.most_at_once = 0
        self._at_once = 0
        self._lock = threading.Lock()
        self.closed = False

    def decide(self, system: str, user: str, *, on_text: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> ModelAnswer:
        if should_stop is not None and should_stop():
            raise Cancelled("stopped by request")
        with self._lock:
            self.calls.append(user)
            count = len(self.calls)
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            if self.fail_after is not None and count >= self.fail_after:
                raise self.failure or RuntimeError("scripted failure")
            if self.delay:
                time.sleep(self.delay)
            return answer(choose(self.rules, self.default, user))
        finally:
            with self._lock:
                self._at_once -= 1

    def close(self) -> None:
        self.closed = True


def choose(rules: dict[str, str], default: str, text: str) -> str:
    for key, decision in rules.items():
        if key.lower() in text.lower():
            return decision
    return default


class ChatServer(ThreadingHTTPServer):
    """An OpenAI-compatible chat server that answers by ``rules`` on the last message."""

    def __init__(self, rules: dict[str, str] | None = None, default: str = "deny") -> None:
        self.rules = dict(CANDIDATE_RULES if rules is None else rules)
        self.default = default
        self.requests = 0
        super().__init__(("127.0.0.1", 0), _ChatHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"data": [{"id": "chat-candidate"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests += 1
        text = payload["messages"][-1]["content"]
        decision = choose(self.server.rules, self.server.default, text)
        content = json.dumps({"decision": decision, "classification": "scripted",
                              "risk_level": "low", "reasoning": "Served replay answer."})
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 60, "completion_tokens": 25}})


@contextlib.contextmanager
def serving(server: ChatServer) -> Iterator[ChatServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def snapshot(path: Path) -> list[tuple[Any, ...]]:
    """Every stored column of every decision not made by a replay (to prove originals
    untouched), plus every review event."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT * FROM decisions WHERE tags IS NULL OR tags NOT LIKE '%replay%' "
            "ORDER BY decision_id").fetchall()
        reviews = connection.execute("SELECT * FROM reviews ORDER BY id").fetchall()
    return rows + reviews
