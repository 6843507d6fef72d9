"""The embedding service: one :class:`Embedder` in a child process, shared by every worker.

Importing torch holds Python's global interpreter lock for about 0.4 s at a time (its
C extension initialises in one piece), which would freeze a GUI event loop even when
the import runs on a worker thread. :class:`ProcessEmbedder` keeps torch and the model
in a child process and exchanges only texts and arrays with it, so the GUI process
never imports torch at all.

The app makes one per process (the composition root, ``policy_desktop.app``) and hands it
to the run and export workers, so at most one ~750 MB torch child runs however many
workers embed; requests from their threads are served one at a time. A child that died
(killed, out of memory) is replaced by a new one, and the child ends with its parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from policy_desktop.engine.embeddings import DEFAULT_BATCH_SIZE, TextEncoder

__all__ = ["EmbeddingProcessDied", "EncoderFactory", "ProcessEmbedder", "make_embedder"]

_STOP = None

EncoderFactory = Callable[[str | None, int], TextEncoder]
"""Builds the child's encoder from (model path, batch size); must be picklable (a
module-level function), as the child is started with ``spawn``."""


class EmbeddingProcessDied(RuntimeError):
    """The embedding model's process died during a request, twice in a row."""


def make_embedder(model_path: str | None, batch_size: int) -> TextEncoder:
    """The real encoder: all-MiniLM-L6-v2 (``None``: the packaged model)."""
    from policy_desktop.engine.embeddings import Embedder

    return Embedder(model_path, batch_size=batch_size)


def _serve(connection: Connection, model_path: str | None, batch_size: int,
           factory: EncoderFactory) -> None:
    """The child's loop: texts in, embeddings (or the error) out, until told to stop."""
    from policy_desktop.engine.child_process import exit_with_parent

    exit_with_parent()  # a killed GUI must not leave ~750 MB of torch behind

    encoder = factory(model_path, batch_size)
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is _STOP:
            return
        try:
            connection.send(encoder.encode(request))
        except Exception as error:  # sent back and raised in the parent
            try:
                connection.send(error)
            except Exception:  # an exception that does not pickle: its text does
                connection.send(RuntimeError(f"{type(error).__name__}: {error}"))


class ProcessEmbedder:
    """Same ``encode`` as :class:`~policy_desktop.engine.embeddings.Embedder`, in a child.

    The child starts on the first :meth:`encode` (``spawn``, so it shares no threads or
    locks with the parent) and lives until :meth:`close`. A child found dead before a
    request is replaced silently; one that dies during a request is replaced and the
    request sent once more (:class:`EmbeddingProcessDied` if that child dies too). Safe to
    share between threads: requests are served one at a time, in the order they take the
    lock. After :meth:`close` the next :meth:`encode` starts a new child.

    Args:
        model_path: a sentence-transformers model directory; ``None`` = the packaged model.
        batch_size: texts per forward pass.
        encoder_factory: builds the child's encoder (tests use a light one).
    """

    def __init__(self, model_path: Path | str | None = None, *,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 encoder_factory: EncoderFactory = make_embedder) -> None:
        self._model_path = None if model_path is None else str(model_path)
        self._batch_size = batch_size
        self._factory = encoder_factory
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._starts = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if there is one."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    @property
    def starts(self) -> int:
        """How many children this service has started (restarts included)."""
        return self._starts

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, name="policy-desktop-embedder", daemon=True,
                                  args=(child, self._model_path, self._batch_size,
                                        self._factory))
        process.start()
        child.close()
        self._connection, self._process = parent, process
        self._starts += 1
        return parent

    def _live_connection(self) -> Connection:
        if self._process is not None and not self._process.is_alive():
            self._forget_dead_child()  # died while idle: nothing was lost, start anew
        return self._connection or self._start()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in the child; one L2-normalised row per text.

        Raises:
            EmbeddingProcessDied: the child died during this request, and so did the
                fresh child it was sent to again (the next call starts another).
            Exception: whatever the encoder raised in the child (it keeps serving).
        """
        request = list(texts)
        with self._lock:
            for attempt in (1, 2):
                connection = self._live_connection()
                try:
                    connection.send(request)
                    result = connection.recv()
                    break
                except (EOFError, OSError) as error:
                    exit_status = self._forget_dead_child()
                    if attempt == 2:
                        raise EmbeddingProcessDied(
                            f"the embedding model's process died twice on one request "
                            f"({exit_status}; {error!r})") from None
        if isinstance(result, Exception):
            raise result
        return np.asarray(result)

    def _forget_dead_child(self) -> str:
        """Close the pipe, reap (or kill) the child; return how it ended, in words."""
        from policy_desktop.engine.child_process import describe_exit

        if self._connection is not None:
            self._connection.close()
        exit_status = "no process"
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
            exit_status = describe_exit(self._process.exitcode)
        self._connection = self._process = None
        return exit_status

    def close(self) -> None:
        """Stop the child (idempotent; waits for a request in progress to finish)."""
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._connection.send(_STOP)
                self._connection.close()
            if self._process is not None:
                self._process.join(timeout=10)
                if self._process.is_alive():
                    self._process.kill()
                    self._process.join()
            self._connection = self._process = None
