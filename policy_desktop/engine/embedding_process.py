"""An :class:`Embedder` in a child process, for programs with a user interface.

Importing torch holds Python's global interpreter lock for about 0.4 s at a time (its
C extension initialises in one piece), which would freeze a GUI event loop even when
the import runs on a worker thread. :class:`ProcessEmbedder` keeps torch and the model
in a child process and exchanges only texts and arrays with it, so the GUI process
never imports torch at all.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

_STOP = None


def _serve(connection: Connection, model_path: str | None, batch_size: int) -> None:
    """The child's loop: texts in, embeddings (or the error) out, until told to stop."""
    from policy_desktop.engine.child_process import exit_with_parent
    from policy_desktop.engine.embeddings import Embedder

    exit_with_parent()  # a killed GUI must not leave ~750 MB of torch behind

    embedder = Embedder(model_path, batch_size=batch_size)
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is _STOP:
            return
        try:
            connection.send(embedder.encode(request))
        except Exception as error:  # sent back and raised in the parent
            connection.send(error)


class ProcessEmbedder:
    """Same ``encode`` as :class:`~policy_desktop.engine.embeddings.Embedder`, in a child.

    The child starts on the first :meth:`encode` (``spawn``, so it shares no threads or
    locks with the parent) and lives until :meth:`close`; one that died is started again by
    the next :meth:`encode` (the failed call raises). Safe to share between threads.
    """

    def __init__(self, model_path: Path | str | None = None, *, batch_size: int = 16) -> None:
        self._model_path = None if model_path is None else str(model_path)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, name="policy-desktop-embedder", daemon=True,
                                  args=(child, self._model_path, self._batch_size))
        process.start()
        child.close()
        self._connection, self._process = parent, process
        return parent

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in the child; one L2-normalised row per text.

        Raises:
            RuntimeError: the child died during this call (the next call starts a new one).
        """
        with self._lock:
            connection = self._connection or self._start()
            try:
                connection.send(list(texts))
                result = connection.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as error:
                self._forget_dead_child()
                raise RuntimeError(f"the embedding model's process died ({error!r})") from None
        if isinstance(result, Exception):
            raise result
        return np.asarray(result)

    def _forget_dead_child(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
        self._connection = self._process = None

    def close(self) -> None:
        """Stop the child (idempotent)."""
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
