"""Light encoders for the embedding service's child (``ProcessEmbedder(encoder_factory=...)``).

They run in the real ``spawn`` child behind the real pipe, so restarts, kills and the
child's death with its parent are real; only torch and MiniLM are left out (the real
model's child is tested in the slow tests of ``tests/engine/test_embedding_process.py``).
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIMENSION = 16
DIE = "die"
"""A text that kills the child (SIGKILL, as the out-of-memory killer would) mid-request."""
DIE_ONCE = "die-once:"
"""``die-once:<path>``: kill the child the first time (creating ``<path>``), then answer."""


def hash_vectors(texts: Sequence[str]) -> np.ndarray:
    """Deterministic unit vectors, one per text."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(DIMENSION)
        rows.append(vector / np.linalg.norm(vector))
    return np.array(rows, dtype=np.float32).reshape(len(texts), DIMENSION)


class HashEncoder:
    """Encodes by hashing; dies on request (see :data:`DIE`, :data:`DIE_ONCE`)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        for text in texts:
            if text == DIE:
                os.kill(os.getpid(), signal.SIGKILL)
            if isinstance(text, str) and text.startswith(DIE_ONCE):
                marker = Path(text.removeprefix(DIE_ONCE))
                if not marker.exists():
                    marker.write_text(str(os.getpid()), encoding="utf-8")
                    os.kill(os.getpid(), signal.SIGKILL)
            if not isinstance(text, str):
                raise TypeError(f"not a text: {text!r}")
        return hash_vectors(texts)


def hash_encoder(model_path: str | None, batch_size: int) -> HashEncoder:
    """The factory the child calls (module level, so ``spawn`` can pickle it)."""
    return HashEncoder()
