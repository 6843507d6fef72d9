"""``python -m policy_desktop.engine.selfcheck``: does this llama.cpp build run on this CPU?

Setup runs it right after installing llama-cpp-python: the bundled model answers one short
prompt in a child process. A build that crashes (SIGSEGV from AMX kernels under a
hypervisor, SIGILL from instructions the CPU lacks) stops the setup with a message that
names the cause, instead of a test run or the app dying later.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from policy_desktop.engine.gguf import ModelFileError
from policy_desktop.engine.llm import EngineSettings
from policy_desktop.engine.model_process import ModelProcess, ModelProcessError, Serve, serve

BUILD_RECORD = Path(sys.prefix) / "llama-cpp-build.json"
SYSTEM = "Answer with the access decision for the situation."
USER = "Situation: a member reads the public README during working hours."


def build_description(record_path: Path = BUILD_RECORD) -> str:
    """The installed build's version, key and CMake switches, as the build script recorded."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ("llama-cpp-python was not installed by packaging/build_llama_cpp.py "
                "(no build record): it may be a -march=native build from pip's cache")
    return (f"llama-cpp-python {record.get('version')} build {record.get('key')} "
            f"({' '.join(record.get('cmake_args', []))})")


def _cpu_has_amx() -> bool:
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def check(target: Serve = serve, model_path: Path | None = None) -> tuple[bool, str]:
    """Load the model and decode a short answer in a child; (passed, message)."""
    settings = EngineSettings(model_path=model_path, n_ctx=512, max_tokens=96, n_threads=2)
    try:
        with ModelProcess(settings, target=target, stall_seconds=120) as model:
            answer = model.decide(SYSTEM, USER)
    except ModelProcessError as failure:
        hint = ("This CPU advertises AMX, whose llama.cpp kernels fault in some virtual "
                "machines: build without -march=native and without AMX" if _cpu_has_amx()
                else "The build may use instructions this CPU or its hypervisor cannot run")
        return False, (f"llama.cpp self-check FAILED: {failure}.\n{hint}: run "
                       "`python3 packaging/build_llama_cpp.py --python .venv/bin/python` "
                       f"(or `make setup`).\nInstalled: {build_description()}")
    except ModelFileError as problem:
        return False, f"llama.cpp self-check FAILED: {problem}"
    return True, (f"llama.cpp self-check passed: {model.info.name} answered "
                  f"{answer.decision!r} ({answer.generated_tokens} tokens, "
                  f"{answer.seconds:.1f} s) with {build_description()}")


def main() -> int:
    passed, message = check()
    print(message, file=sys.stdout if passed else sys.stderr, flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
