"""The llama.cpp model in a child process, so a crash there ends a run and not the program.

:class:`ModelProcess` answers like :class:`~policy_desktop.engine.llm.PolicyModel` (the
runner cannot tell them apart) while the model lives in a ``spawn`` child. A native crash
(SIGSEGV in llama.cpp), an out-of-memory kill or a model that stops producing anything
becomes a :class:`ModelProcessError` naming the model file and the signal; the parent
process, the GUI's window included, goes on. The child dies with its parent.

The pipe carries small tuples: ``("decide", system, user, settings)`` and ``("close",)``
down; ``("status", text)``, ``("ready", load_seconds)``, ``("progress", done, total)``,
``("text", piece)``, ``("answer", ModelAnswer)`` and ``("error", kind, text)`` up.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.child_process import describe_exit, exit_with_parent
from policy_desktop.engine.gguf import ModelFileError, ModelInfo, read_model_info
from policy_desktop.engine.llm import (
    Cancelled,
    EngineSettings,
    ModelAnswer,
    PromptTooLong,
    labelled_info,
)

__all__ = ["ModelCrashed", "ModelHung", "ModelProcess", "ModelProcessError"]

STALL_SECONDS = 300.0
"""Default: a model that sends nothing (no prompt chunk, no token) this long is hung."""
STOP_GRACE_SECONDS = 10.0
"""After a stop request, how long the child may take to notice before it is killed."""
_POLL_SECONDS = 0.05


class ModelProcessError(RuntimeError):
    """The model's process failed as a process (crashed, was killed, or hung)."""


class ModelCrashed(ModelProcessError):
    """The model's process died: a native crash, an out-of-memory kill, a kill from outside."""


class ModelHung(ModelProcessError):
    """The model's process stopped sending anything and was stopped."""


Serve = Callable[[Connection, EngineSettings, Any], None]


def serve(connection: Connection, settings: EngineSettings, stop: Any) -> None:
    """The child's loop: load the model, then answer ``decide`` requests until ``close``."""
    exit_with_parent()
    from policy_desktop.engine.llm import PolicyModel

    def send(*message: object) -> None:
        connection.send(message)

    try:
        model = PolicyModel(settings, on_status=lambda text: send("status", text))
    except BaseException as error:
        send("error", *_error_record(error))
        return
    send("ready", model.load_seconds)
    with model:
        while True:
            try:
                message = connection.recv()
            except EOFError:
                return
            if message[0] == "close":
                return
            _, system, user, call_settings = message
            model.settings = call_settings
            try:
                answer = model.decide(
                    system, user, should_stop=stop.is_set,
                    on_text=lambda piece: send("text", piece),
                    on_progress=lambda done, total: send("progress", done, total))
            except BaseException as error:  # sent up and raised in the parent
                send("error", *_error_record(error))
            else:
                send("answer", answer)


def _error_record(error: BaseException) -> tuple[str, str]:
    """(kind, text): exceptions cross the pipe as text, some of them do not pickle."""
    kinds = ((Cancelled, "cancelled"), (PromptTooLong, "prompt_too_long"),
             (ModelFileError, "model_file"))
    kind = next((name for cls, name in kinds if isinstance(error, cls)), "other")
    if isinstance(error, ModelFileError):
        return kind, error.reason
    return kind, str(error) if kind != "other" else f"{type(error).__name__}: {error}"


class ModelProcess:
    """A :class:`~policy_desktop.engine.llm.PolicyModel` in a child process.

    The constructor checks the file's header in this process (a wrong path fails before
    any process starts), then starts the child and waits until the model is loaded.
    Not thread-safe, like ``PolicyModel``: one caller at a time. A context manager.

    Raises (constructor and :meth:`decide`):
        ModelFileError: the file is not a GGUF model, or llama.cpp cannot load it.
        ModelCrashed: the child died; ``decide`` after that raises it again.
        ModelHung: nothing came from the child for ``stall_seconds``.
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        on_status: Callable[[str], None] | None = None,
        stall_seconds: float = STALL_SECONDS,
        target: Serve = serve,
    ) -> None:
        started = time.perf_counter()
        path = settings.model_path or bundled_model_path(on_status)
        self.info: ModelInfo = labelled_info(read_model_info(path), settings.label)
        self.settings = replace(settings, model_path=path)
        self._stall_seconds = stall_seconds
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=target, name="policy-desktop-model", daemon=True,
            args=(child, self.settings, self._stop))
        self._process.start()
        child.close()
        self._failure: ModelProcessError | None = None
        self._closed = False
        try:
            self._wait_ready(on_status)
        except BaseException:
            self.close()
            raise
        self.load_seconds = time.perf_counter() - started

    @property
    def pid(self) -> int | None:
        """The child's process id (for tests and diagnostics)."""
        return self._process.pid

    @property
    def path(self) -> Path:
        return self.info.path

    def _wait_ready(self, on_status: Callable[[str], None] | None) -> None:
        while True:
            message = self._receive("loading")
            if message[0] == "status":
                if on_status is not None:
                    on_status(message[1])
            elif message[0] == "ready":
                return
            elif message[0] == "error":
                self._raise_remote(message[1], message[2])

    def decide(
        self,
        system: str,
        user: str,
        *,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> ModelAnswer:
        """Answer one prompt in the child (see ``PolicyModel.decide``)."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise RuntimeError("the model is closed")
        self._stop.clear()
        self._connection.send(("decide", system, user, self.settings))
        while True:
            message = self._receive("answering", should_stop)
            kind = message[0]
            if kind == "text":
                if on_text is not None:
                    on_text(message[1])
            elif kind == "progress":
                if on_progress is not None:
                    on_progress(message[1], message[2])
            elif kind == "answer":
                return message[1]
            elif kind == "error":
                self._raise_remote(message[1], message[2])

    def _receive(self, phase: str, should_stop: Callable[[], bool] | None = None) -> tuple:
        """The next message; the child's death, a stall or an ignored stop raise."""
        last_heard = time.monotonic()
        stop_asked: float | None = None
        while True:
            ready = wait([self._connection, self._process.sentinel], timeout=_POLL_SECONDS)
            if self._connection in ready:
                try:
                    return self._connection.recv()
                except EOFError:
                    ready = [self._process.sentinel]
            if self._process.sentinel in ready:
                self._fail(ModelCrashed, self._death_message(phase))
            now = time.monotonic()
            if should_stop is not None and stop_asked is None and should_stop():
                self._stop.set()
                stop_asked = now
            if stop_asked is not None and now - stop_asked > STOP_GRACE_SECONDS:
                self._kill()
                self._failure = ModelHung(f"the model process ignored a stop request for "
                                          f"{STOP_GRACE_SECONDS:.0f} s and was stopped")
                raise Cancelled("stopped by request (the model process was stopped)")
            if now - last_heard > self._stall_seconds:
                self._kill()
                self._fail(ModelHung, f"the model process sent nothing for "
                           f"{self._stall_seconds:.0f} s while {phase} with "
                           f"{self.info.path} and was stopped")

    def _death_message(self, phase: str) -> str:
        self._process.join(timeout=5)
        how = describe_exit(self._process.exitcode)
        return f"the model process died while {phase} with {self.info.path}: {how}"

    def _fail(self, kind: type[ModelProcessError], message: str) -> None:
        self._failure = kind(message)
        raise self._failure

    def _raise_remote(self, kind: str, text: str) -> None:
        if kind == "cancelled":
            raise Cancelled(text)
        if kind == "prompt_too_long":
            raise PromptTooLong(text)
        if kind == "model_file":
            raise ModelFileError(self.info.path, text)
        raise RuntimeError(text)

    def _kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=5)

    def close(self) -> None:
        """Stop the child (idempotent): ask it, then kill it if it does not end."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(BrokenPipeError, OSError):
            self._connection.send(("close",))
        self._process.join(timeout=5)
        self._kill()
        self._connection.close()

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
