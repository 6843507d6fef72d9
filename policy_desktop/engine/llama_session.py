"""The one module that touches llama.cpp's C API and ``Llama``'s internals.

A :class:`LlamaSession` is a loaded model plus its KV cache as a list of the tokens
evaluated so far: it decodes tokens in fixed chunks through a raw ``llama_batch``, reads
logits, truncates the cache and reads the vocabulary. Everything above it (the skeleton
decoder, the prompt logic) sees only :class:`~policy_desktop.engine.skeleton_decoder.TokenSession`.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from policy_desktop.engine.gguf import ModelFileError

if TYPE_CHECKING:
    from llama_cpp import Llama

# llama.cpp's OpenMP threads busy-wait at every sync point by default; when another process
# or our own GUI/embedding work holds a core that slows decoding 5-20x (bench_run.py).
# Sleeping threads keep the speed on a shared machine. Read when llama_cpp first loads,
# which only happens through this module, lazily; an explicit environment setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class LlamaSession:
    """A GGUF model loaded with llama.cpp and the tokens in its KV cache (sequence 0).

    Not thread-safe. ``Llama``'s own ``input_ids``/``n_tokens`` are kept in step, so a
    caller may still use the ``Llama`` object directly between calls (see
    :meth:`adopt_llama_state`).
    """

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int | None, n_gpu_layers: int,
                 seed: int, batch_capacity: int, lora_path: Path | None = None) -> None:
        """Load ``path`` (``verbose=False``).

        Raises:
            ModelFileError: llama.cpp fails to load the model or the adapter.
        """
        import llama_cpp

        self.batch_capacity = batch_capacity
        self.llama: Llama = _load_llama(path, n_ctx=n_ctx, n_threads=n_threads,
                                        n_gpu_layers=n_gpu_layers, seed=seed,
                                        batch=batch_capacity, lora_path=lora_path)
        self._kv: list[int] = []
        self._batch: Any = None
        try:
            self._vocab = llama_cpp.llama_model_get_vocab(self.llama.model)
            self.n_vocab = self.llama.n_vocab()
            self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
            self.bos = int(llama_cpp.llama_vocab_bos(self._vocab))
            self.eos = int(llama_cpp.llama_vocab_eos(self._vocab))
            self._pieces: dict[int, bytes] = {}
            self._piece_buffer = ctypes.create_string_buffer(256)
            self._batch = llama_cpp.llama_batch_init(batch_capacity, 0, 1)
        except BaseException:
            self.close()
            raise

    @property
    def n_ctx(self) -> int:
        return int(self.llama.n_ctx())

    @property
    def kv(self) -> Sequence[int]:
        """The tokens in the KV cache, in order (do not modify)."""
        return self._kv

    def close(self) -> None:
        """Free the batch and the model (idempotent)."""
        import llama_cpp

        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        llama = getattr(self, "llama", None)
        if llama is not None:
            llama.close()
            self.llama = None  # type: ignore[assignment]
        self._kv = []

    # --- vocabulary ---

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (empty for special tokens)."""
        cached = self._pieces.get(token)
        if cached is None:
            import llama_cpp

            size = llama_cpp.llama_token_to_piece(
                self._vocab, token, self._piece_buffer, len(self._piece_buffer), 0, False)
            if size < 0:
                self._piece_buffer = ctypes.create_string_buffer(-size)
                size = llama_cpp.llama_token_to_piece(
                    self._vocab, token, self._piece_buffer, -size, 0, False)
            cached = self._piece_buffer.raw[: max(size, 0)]
            self._pieces[token] = cached
        return cached

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        """llama.cpp's tokenisation of ``text``."""
        return self.llama.tokenize(text, add_bos=add_bos, special=special)

    def token_text(self, token: int) -> str:
        """A token's text as the vocabulary spells it (special tokens included)."""
        import llama_cpp

        if token < 0:
            return ""
        text = llama_cpp.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", errors="replace") if text else ""

    # --- the KV cache ---

    def decode(self, tokens: Sequence[int], *, outputs: str = "last",
               before_chunk: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Append ``tokens`` to the KV cache in chunks; logits of the last (or every) token.

        ``before_chunk(done)`` is called before each chunk with the number of ``tokens``
        already evaluated (to poll a stop request, to report progress).
        ``outputs="all"`` is for the few tokens of a label path only.
        """
        import llama_cpp

        batch = self._batch
        assert batch is not None
        results: list[np.ndarray] = []
        capacity = self.batch_capacity
        for start in range(0, len(tokens), capacity):
            if before_chunk is not None:
                before_chunk(start)
            chunk = tokens[start : start + capacity]
            position = len(self._kv)
            batch.n_tokens = len(chunk)
            for index, token in enumerate(chunk):
                batch.token[index] = token
                batch.pos[index] = position + index
                batch.n_seq_id[index] = 1
                batch.seq_id[index][0] = 0
                batch.logits[index] = outputs == "all"
            batch.logits[len(chunk) - 1] = True
            code = llama_cpp.llama_decode(self.llama.ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode failed with code {code}")
            self._kv.extend(chunk)
            self.llama.input_ids[position : position + len(chunk)] = chunk
            self.llama.n_tokens = len(self._kv)
            rows = range(len(chunk)) if outputs == "all" else (len(chunk) - 1,)
            if outputs == "all" or start + capacity >= len(tokens):
                results.extend(self._logits(row) for row in rows)
        return results

    def _logits(self, row: int) -> np.ndarray:
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def truncate(self, length: int) -> None:
        """Forget the KV cache from position ``length`` on."""
        import llama_cpp

        if length >= len(self._kv):
            return
        memory = llama_cpp.llama_get_memory(self.llama.ctx)
        if length > 0 and llama_cpp.llama_memory_seq_rm(memory, 0, length, -1):
            del self._kv[length:]
        else:
            llama_cpp.llama_memory_clear(memory, True)
            self._kv.clear()
        self.llama.n_tokens = len(self._kv)

    def adopt_llama_state(self) -> None:
        """Trust ``Llama``'s record if someone used it directly since our last call.

        Like ``Llama.eval``, positions from ``Llama.n_tokens`` on are dropped from the cache.
        """
        import llama_cpp

        llama = self.llama
        count = int(llama.n_tokens)
        if count != len(self._kv) or list(llama.input_ids[:count]) != self._kv:
            self._kv = [int(t) for t in llama.input_ids[:count]]
            memory = llama_cpp.llama_get_memory(llama.ctx)
            if not llama_cpp.llama_memory_seq_rm(memory, 0, count, -1):
                llama_cpp.llama_memory_clear(memory, True)
                self._kv = []
                llama.n_tokens = 0


def _load_llama(path: Path, *, n_ctx: int, n_threads: int | None, n_gpu_layers: int,
                seed: int, batch: int, lora_path: Path | None) -> Llama:
    """Load ``path`` with llama.cpp, turning its failures into :class:`ModelFileError`."""
    from llama_cpp import Llama

    threads = n_threads or os.cpu_count() or 1
    try:
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=batch,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=n_gpu_layers,
            seed=seed,
            logits_all=False,
            lora_path=None if lora_path is None else str(lora_path),
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as error:
        what = "the model" if lora_path is None else f"the model with the adapter {lora_path}"
        raise ModelFileError(path, f"llama.cpp could not load {what} ({error})") from None
