"""``policy-desktop serve-model``: llama.cpp's ``llama-server`` on 127.0.0.1, N parallel slots.

The binary is built by ``python3 packaging/build_llama_server.py --python .venv/bin/python``
(the llama.cpp source of the pinned llama-cpp-python, portable switches) into the
environment's ``bin/``. ``-np N`` slots share one context of N x ``--ctx-per-slot``
tokens, so each request keeps the per-slot context the in-process engine has. Point
:class:`~policy_desktop.engine.endpoint.EndpointModel` (``run --endpoint URL``) at the
printed URL. Ctrl+C or SIGTERM stops the server.

The server gets a private ``--slot-save-path`` folder (removed when it stops): the
endpoint engine evaluates the prompt's shared part (policy and examples) in one slot, saves
that slot's KV cache there and restores it into the other slots, instead of every slot
evaluating the same ~1,900 tokens again.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HELP = "start llama.cpp's llama-server on 127.0.0.1 with the bundled model and N parallel slots"

BINARY_ENV = "POLICY_DESKTOP_LLAMA_SERVER"
DEFAULT_PARALLEL = 4
DEFAULT_PORT = 8080
DEFAULT_CTX_PER_SLOT = 4096
DEFAULT_BATCH = 128
"""Prompt tokens per llama.cpp batch: the in-process engine's chunk on a CPU
(``engine.llm.PREFILL_CHUNK``); a GPU prefers more (``--batch 512``)."""
READY_TIMEOUT = 180.0
BUILD_HINT = "python3 packaging/build_llama_server.py --python .venv/bin/python"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
                        help=f"requests decoded at once (default {DEFAULT_PARALLEL})")
    parser.add_argument("--model", metavar="PATH", help="GGUF model (default: bundled Gemma)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: a free one)")
    parser.add_argument("--ctx-per-slot", type=int, default=DEFAULT_CTX_PER_SLOT, metavar="N",
                        help=f"context tokens per slot (default {DEFAULT_CTX_PER_SLOT})")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="N",
                        help=f"prompt tokens per batch (default {DEFAULT_BATCH}, as the "
                             "in-process engine; more is faster on a GPU)")
    parser.add_argument("--gpu-layers", type=int, default=0, metavar="N",
                        help="layers to offload to a GPU (needs a GPU build)")
    parser.add_argument("--server-binary", metavar="PATH",
                        help=f"llama-server to run (default: ${BINARY_ENV}, the environment's "
                             "bin/, then PATH)")


def find_server_binary(explicit: str | Path | None = None) -> Path | None:
    """The llama-server to run: ``explicit`` (only it, when given),
    ``$POLICY_DESKTOP_LLAMA_SERVER``, the environment's ``bin/llama-server``, then one on
    ``PATH``; None when there is none."""
    def runnable(candidate: str | Path) -> bool:
        return Path(candidate).is_file() and os.access(candidate, os.X_OK)

    if explicit is not None:
        return Path(explicit) if runnable(explicit) else None
    for candidate in (os.environ.get(BINARY_ENV), Path(sys.prefix) / "bin" / "llama-server"):
        if candidate and runnable(candidate):
            return Path(candidate)
    found = shutil.which("llama-server")
    return Path(found) if found else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(binary: Path, model: Path, *, port: int, parallel: int,
                   ctx_per_slot: int = DEFAULT_CTX_PER_SLOT, threads: int | None = None,
                   gpu_layers: int = 0, batch: int = DEFAULT_BATCH,
                   slot_save_path: Path | None = None) -> list[str]:
    """The llama-server command line (loopback only; one context of N x per-slot tokens;
    prompts evaluated in batches of ``batch`` tokens, the in-process engine's chunk on a
    CPU, so the prompt's logits come out as the in-process engine's; slots saved to and
    restored from ``slot_save_path`` when given).

    Attention runs as llama-cpp-python runs it in-process (no flash attention, a full
    sliding-window cache, no context checkpoints): with the server's own defaults the
    answer's log-probabilities differ in the third decimal and near-ties flip.
    """
    threads = threads or os.cpu_count() or 1
    return [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(parallel), "--ctx-size", str(parallel * ctx_per_slot),
            "--threads", str(threads), "--threads-batch", str(threads),
            "--n-gpu-layers", str(gpu_layers), "--batch-size", str(batch),
            "--ubatch-size", str(batch), "--flash-attn", "off", "--ctx-checkpoints", "0",
            "--swa-full", "--no-webui",
            *(["--slot-save-path", str(slot_save_path)] if slot_save_path else [])]


class ServerError(RuntimeError):
    """llama-server did not start or stopped."""


@dataclass
class ServerProcess:
    """A running llama-server."""

    process: subprocess.Popen[bytes]
    url: str
    model: Path
    parallel: int

    def stop(self, timeout: float = 20.0) -> int:
        """Terminate (then kill) the server; its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the starting thread's process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_until_ready(server: ServerProcess, log: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise ServerError(f"llama-server exited with status {code} while starting"
                              + (f":\n{tail}" if tail else ""))
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=5) as reply:
                if json.loads(reply.read()).get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass  # not listening yet, or 503 while the model loads
        time.sleep(0.2)
    raise ServerError(f"llama-server did not become ready within {timeout:.0f} s")


@contextlib.contextmanager
def start_server(*, parallel: int = DEFAULT_PARALLEL, model: Path | None = None,
                 port: int = 0, ctx_per_slot: int = DEFAULT_CTX_PER_SLOT,
                 threads: int | None = None, gpu_layers: int = 0,
                 batch: int = DEFAULT_BATCH, binary: Path | None = None,
                 log: Path | None = None,
                 ) -> Iterator[ServerProcess]:
    """Start llama-server, wait until it answers ``/health``, stop it on leaving (and
    remove its slot-save folder).

    Raises:
        ServerError: no binary, or it exited or did not get ready.
    """
    found = find_server_binary(binary)
    if found is None:
        raise ServerError(f"llama-server is not built; build it with: {BUILD_HINT}")
    if model is None:
        from policy_desktop.engine.bundled_model import bundled_model_path

        model = bundled_model_path()
    port = port or free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with contextlib.ExitStack() as stack:
        slots = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="policy-slots-")))
        command = server_command(found, model, port=port, parallel=parallel,
                                 ctx_per_slot=ctx_per_slot, threads=threads,
                                 gpu_layers=gpu_layers, batch=batch, slot_save_path=slots)
        output = stack.enter_context(open(log, "wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env=env,
                                   preexec_fn=_die_with_parent)
        server = ServerProcess(process, f"http://127.0.0.1:{port}", model, parallel)
        try:
            _wait_until_ready(server, log, READY_TIMEOUT)
            yield server
        finally:
            server.stop()


def run(args: argparse.Namespace) -> int:
    from policy_desktop.commands.common import error

    if args.parallel < 1 or args.ctx_per_slot < 256:
        error("--parallel must be at least 1 and --ctx-per-slot at least 256")
        return 2
    binary = find_server_binary(args.server_binary)
    if binary is None:
        error(f"{args.server_binary}: not an executable file" if args.server_binary else
              f"llama-server is not built; build it with: {BUILD_HINT}")
        return 1
    model = Path(args.model).expanduser() if args.model else None
    if model is not None and not model.is_file():
        error(f"{model}: no such model file")
        return 2
    stop = {"signal": 0}

    def handler(number: int, _frame: object) -> None:
        stop["signal"] = number

    previous = {n: signal.signal(n, handler) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_server(parallel=args.parallel, model=model, port=args.port,
                          ctx_per_slot=args.ctx_per_slot, threads=args.threads,
                          gpu_layers=args.gpu_layers, batch=args.batch,
                          binary=binary) as server:
            print(f"policy-desktop serve-model: {server.model.name} on {server.url} with "
                  f"{args.parallel} slots of {args.ctx_per_slot} tokens; Ctrl+C stops",
                  flush=True)
            while not stop["signal"] and server.process.poll() is None:
                time.sleep(0.2)
            if server.process.poll() is not None and not stop["signal"]:
                error(f"llama-server stopped with status {server.process.returncode}")
                return 1
    except ServerError as problem:
        error(str(problem))
        return 1
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
    print("policy-desktop serve-model: stopped", flush=True)
    return 0
