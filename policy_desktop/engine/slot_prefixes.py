"""The prompt's shared part evaluated once per llama-server, copied into its other slots.

Every prompt of a run starts with the same ~1,900 tokens (policy, instructions, examples).
Each llama-server slot keeps its own KV cache, so with N slots the server would evaluate
that part N times (8 x ~7 s on two CPU cores) before the first answers. Instead the first
slot evaluates it and saves its cache (``POST /slots/ID?action=save``, a server started
with ``--slot-save-path``); the other slots restore that file, which takes milliseconds
and gives the exact cache (the same bits, so the same log-probabilities).

A server without slot saving (HTTP 501, a read-only folder, another implementation)
keeps working: every slot then evaluates the shared part itself, as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Post = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``POST path`` with a JSON body; raises on an HTTP error, returns the JSON answer."""


@dataclass
class PrefixCounts:
    """How each slot got the shared part: evaluated by the server or restored from a file."""

    evaluated: int = 0
    restored: int = 0
    failures: list[str] = field(default_factory=list)


class SlotPrefixes:
    """Puts a shared token prefix into a slot's cache, evaluating it once per server.

    Thread-safe: the threads of ``decide_many`` prime their slots at the same time; the
    first evaluates and saves, the others wait for it and restore.
    """

    def __init__(self, post: Post, model_key: str, errors: tuple[type[Exception], ...]) -> None:
        """``model_key`` names the server's model (the files are per model); ``errors`` are
        what ``post`` raises for a refused request."""
        self._post = post
        self._model_key = model_key
        self._errors = errors
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._saved: set[str] = set()
        self._saving = True  # until the server refuses
        self.counts = PrefixCounts()

    def filename(self, tokens: Sequence[int]) -> str:
        """The file of a prefix in the server's slot folder (a digest of model and tokens)."""
        digest = hashlib.sha256(self._model_key.encode())
        digest.update(",".join(map(str, tokens)).encode())
        return f"policy-desktop-prefix-{digest.hexdigest()[:32]}.bin"

    def prime(self, slot: int, tokens: Sequence[int]) -> None:
        """Make ``slot``'s cache hold exactly ``tokens``.

        Raises:
            whatever ``post`` raises when evaluating the prefix fails.
        """
        name = self.filename(tokens)
        with self._lock:
            prefix_lock = self._locks.setdefault(name, threading.Lock())
        with prefix_lock:
            if name in self._saved and self._restore(slot, name):
                return
            self._post("/completion", {"prompt": list(tokens), "n_predict": 0,
                                       "cache_prompt": True, "id_slot": slot})
            with self._lock:
                self.counts.evaluated += 1
            if self._saving and name not in self._saved:
                self._save(slot, name)

    def _save(self, slot: int, name: str) -> None:
        try:
            self._post(f"/slots/{slot}?action=save", {"filename": name})
        except self._errors as refused:
            self._saving = False  # no slot folder: evaluate in every slot from now on
            self.counts.failures.append(f"save: {refused}")
            return
        self._saved.add(name)

    def _restore(self, slot: int, name: str) -> bool:
        try:
            self._post(f"/slots/{slot}?action=restore", {"filename": name})
        except self._errors as refused:
            self._saved.discard(name)  # the file is gone or the cache full: evaluate it
            self.counts.failures.append(f"restore: {refused}")
            return False
        with self._lock:
            self.counts.restored += 1
        return True
