#!/usr/bin/env python3
"""Build and install a portable llama-cpp-python into a virtual environment.

The default llama-cpp-python build compiles llama.cpp with ``-march=native``; on CPUs
that advertise AMX its AMX kernels fault inside some hypervisors (SIGSEGV at the first
decode). This script builds with ``GGML_NATIVE=OFF`` and an explicit, recorded set of
instruction-set switches, and caches the wheel under a key that includes those switches,
the version, the Python tag, the machine and the compiler — pip's own cache keys a built
wheel by name and version only, so a wheel built with other flags would be reused.

Run with the system Python (standard library only)::

    python3 packaging/build_llama_cpp.py --python .venv/bin/python

``LLAMA_CMAKE_ARGS`` replaces the chosen switches (for a CUDA build on the Thor, say);
they are part of the cache key and recorded like the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

PACKAGE = "llama-cpp-python"
ROOT = Path(__file__).resolve().parent.parent
MARKER_NAME = "llama-cpp-build.json"

# The x86-64 switches every machine of this project's kind runs (AVX2 era); AVX-512 and
# AMX stay off: AMX faults in these VMs and AVX-512 is absent on some of the same kind.
X86_SWITCHES = ("AVX", "AVX2", "FMA", "F16C", "BMI2")
X86_CPU_FLAGS = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "BMI2": "bmi2"}
X86_ALWAYS_OFF = ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI",
                  "AMX_TILE", "AMX_INT8", "AMX_BF16")
# Armv8.2-A with dot product and fp16 runs on every Jetson Orin and Thor CPU core.
AARCH64_ARCH = "armv8.2-a+dotprod+fp16"


def pinned_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The exact llama-cpp-python version pyproject.toml pins (one source of truth)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    for requirement in data["project"]["dependencies"]:
        match = re.fullmatch(r"\s*llama-cpp-python\s*==\s*([0-9][0-9.]*)\s*", requirement)
        if match:
            return match.group(1)
    raise SystemExit(f"{pyproject}: no 'llama-cpp-python==X.Y.Z' pin among the dependencies")


def cpu_flags() -> set[str]:
    """Instruction-set flags the kernel reports for this CPU (empty when unknown)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cmake_args(machine: str, flags: set[str]) -> list[str]:
    """The CMake switches for a portable build on ``machine`` with ``flags``."""
    override = os.environ.get("LLAMA_CMAKE_ARGS")
    if override:
        return override.split()
    args = ["-DGGML_NATIVE=OFF"]
    if machine in ("x86_64", "AMD64"):
        for switch in X86_SWITCHES:
            # A CPU without a baseline feature gets a build without it rather than SIGILL.
            enabled = not flags or X86_CPU_FLAGS[switch] in flags
            args.append(f"-DGGML_{switch}={'ON' if enabled else 'OFF'}")
        args += [f"-DGGML_{switch}=OFF" for switch in X86_ALWAYS_OFF]
    elif machine in ("aarch64", "arm64"):
        args.append(f"-DGGML_CPU_ARM_ARCH={AARCH64_ARCH}")
    return args


def compiler_id() -> str:
    """First line of the C compiler's version text: a new compiler means a new build."""
    compiler = os.environ.get("CC", "cc")
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def python_tag(python: str) -> str:
    code = "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')"
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def build_record(python: str) -> dict[str, object]:
    """What identifies a build: everything that changes the compiled library."""
    machine = platform.machine()
    record: dict[str, object] = {
        "package": PACKAGE,
        "version": pinned_version(),
        "python": python_tag(python),
        "machine": machine,
        "cmake_args": cmake_args(machine, cpu_flags()),
        "compiler": compiler_id(),
    }
    return with_key(record)


def with_key(record: dict[str, object]) -> dict[str, object]:
    """``record`` plus its ``key``: the version and a digest of everything in it."""
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return {**record, "key": f"{record['version']}-{digest}"}


def user_cache(folder: str, override: str) -> Path:
    """``$<override>``, else ``folder`` under ``policy-desktop`` in the user's cache."""
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "policy-desktop" / folder


def cache_root() -> Path:
    return user_cache("llama-wheels", "POLICY_DESKTOP_WHEEL_CACHE")


def build_wheel(python: str, record: dict[str, object], target: Path) -> Path:
    """Compile the pinned sdist with the recorded switches into ``target`` (atomically)."""
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(record["cmake_args"])  # type: ignore[arg-type]
    env["FORCE_CMAKE"] = "1"
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    print(f"building {PACKAGE} {record['version']} with CMAKE_ARGS={env['CMAKE_ARGS']}"
          " (6-9 minutes on 2 cores, once per machine)", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as scratch:
        started = time.monotonic()
        # --no-cache-dir: pip's cache would hand back a wheel built with other flags.
        subprocess.run(
            [python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
             "--no-binary", PACKAGE, f"{PACKAGE}=={record['version']}", "-w", scratch],
            env=env, check=True)
        wheels = list(Path(scratch).glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one built wheel in {scratch}, found {wheels}")
        built = dict(record, built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     build_seconds=round(time.monotonic() - started),
                     wheel=wheels[0].name)
        (Path(scratch) / "build.json").write_text(json.dumps(built, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
        # TemporaryDirectory's cleanup must not fail on the moved folder.
        Path(scratch).mkdir()
    return target


def install(python: str, folder: Path) -> None:
    built = json.loads((folder / "build.json").read_text(encoding="utf-8"))
    wheel = folder / built["wheel"]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--force-reinstall",
                    "--no-deps", str(wheel)], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    (Path(prefix) / MARKER_NAME).write_text(json.dumps(built, indent=2) + "\n")


def venv_record(python: str) -> dict[str, object] | None:
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    try:
        return json.loads((Path(prefix) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the environment's interpreter (default: this one)")
    parser.add_argument("--print-key", action="store_true",
                        help="print the build record and its cache key, build nothing")
    args = parser.parse_args(argv)
    record = build_record(args.python)
    if args.print_key:
        print(json.dumps(record, indent=2))
        return 0
    current = venv_record(args.python)
    if current is not None and current.get("key") == record["key"]:
        print(f"{PACKAGE} {record['version']} already installed (build {record['key']})")
        return 0
    folder = cache_root() / str(record["key"])
    if (folder / "build.json").is_file():
        print(f"reusing the cached build {folder}")
    else:
        build_wheel(args.python, record, folder)
    install(args.python, folder)
    print(f"installed {PACKAGE} {record['version']} (build {record['key']}: "
          f"{' '.join(record['cmake_args'])})")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
