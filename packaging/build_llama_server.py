#!/usr/bin/env python3
"""Build llama.cpp's own ``llama-server`` from the source the pinned llama-cpp-python vendors.

``llama_cpp.server`` (llama-cpp-python's server) answers one request at a time; llama.cpp's
``llama-server -np N`` decodes N requests in parallel slots. This script builds it from the
``vendor/llama.cpp`` tree of the exact llama-cpp-python sdist pyproject.toml pins, with the
same portable CMake switches as ``build_llama_cpp.py`` (no ``-march=native``: AMX faults in
these VMs), ``LLAMA_CURL=OFF`` (nothing is downloaded at run time) and static libraries, and
only the ``llama-server`` target. The binary is cached under a key of everything that
changes it (version, machine, switches, compiler), so a binary built with other switches is
never reused, and copied into the environment's ``bin/`` where ``policy-desktop
serve-model`` finds it.

Run with the system Python (standard library only)::

    python3 packaging/build_llama_server.py --python .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_llama_cpp import (  # a sibling script, not a package
    PACKAGE,
    compiler_id,
    cpu_flags,
    pinned_version,
    user_cache,
    with_key,
)
from build_llama_cpp import cmake_args as portable_cmake_args

BINARY = "llama-server"
SERVER_SWITCHES = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
)
"""Added to the portable switches: no download support, one self-contained binary."""


def cmake_args() -> list[str]:
    """Every CMake switch of the server build (the portable ones first)."""
    return [*portable_cmake_args(platform.machine(), cpu_flags()), *SERVER_SWITCHES]


def build_record() -> dict[str, object]:
    """What identifies a build; ``key`` names its cache folder."""
    record: dict[str, object] = {
        "binary": BINARY,
        "source": f"{PACKAGE}=={pinned_version()} vendor/llama.cpp",
        "version": pinned_version(),
        "machine": platform.machine(),
        "cmake_args": cmake_args(),
        "compiler": compiler_id(),
    }
    return with_key(record)


def cache_root() -> Path:
    return user_cache("llama-server", "POLICY_DESKTOP_SERVER_CACHE")


def fetch_source(python: str, version: str, scratch: Path) -> Path:
    """Download the pinned sdist (not a wheel) and unpack it; its ``vendor/llama.cpp``."""
    downloads = scratch / "sdist"
    subprocess.run(
        [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"{PACKAGE}=={version}", "-d", str(downloads)], check=True)
    archives = list(downloads.glob("*.tar.gz"))
    if len(archives) != 1:
        raise SystemExit(f"expected one sdist in {downloads}, found {archives}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(scratch / "src", filter="data")
    roots = [p for p in (scratch / "src").iterdir() if p.is_dir()]
    source = roots[0] / "vendor" / "llama.cpp" if len(roots) == 1 else None
    if source is None or not (source / "CMakeLists.txt").is_file():
        raise SystemExit(f"{archives[0].name}: no vendor/llama.cpp with a CMakeLists.txt")
    return source


def build(python: str, record: dict[str, object], target: Path) -> Path:
    """Compile ``llama-server`` into ``target`` (atomically: a half build is never used)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    print(f"building {BINARY} from {record['source']} with "
          f"{' '.join(record['cmake_args'])} (several minutes, once per machine)",  # type: ignore[arg-type]
          flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as scratch_name:
        scratch = Path(scratch_name)
        started = time.monotonic()
        source = fetch_source(python, str(record["version"]), scratch)
        build_dir = scratch / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(["cmake", "-S", str(source), "-B", str(build_dir), *generator,
                        *record["cmake_args"]], check=True)  # type: ignore[misc]
        subprocess.run(["cmake", "--build", str(build_dir), "--target", BINARY, "-j", jobs],
                       check=True)
        built = next(build_dir.rglob(BINARY), None)
        if built is None or not built.is_file():
            raise SystemExit(f"the build produced no {BINARY} under {build_dir}")
        result = scratch / "result"
        result.mkdir()
        shutil.copy2(built, result / BINARY)
        info = dict(record, built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    build_seconds=round(time.monotonic() - started))
        (result / "build.json").write_text(json.dumps(info, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(result, target)
    return target / BINARY


def install(python: str, binary: Path) -> Path:
    """Copy the binary into the environment's ``bin/`` (where serve-model looks first)."""
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    destination = Path(prefix) / "bin" / BINARY
    partial = destination.with_name(f".{BINARY}.{os.getpid()}.partial")
    shutil.copy2(binary, partial)
    os.replace(partial, destination)
    shutil.copy2(binary.with_name("build.json"), Path(prefix) / "llama-server-build.json")
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the environment to install into (default: this interpreter's)")
    parser.add_argument("--print-key", action="store_true",
                        help="print the build record and its cache key, build nothing")
    args = parser.parse_args(argv)
    record = build_record()
    if args.print_key:
        print(json.dumps(record, indent=2))
        return 0
    folder = cache_root() / str(record["key"])
    binary = folder / BINARY
    if (folder / "build.json").is_file() and binary.is_file():
        print(f"reusing the cached {BINARY} {folder}")
    else:
        binary = build(args.python, record, folder)
    installed = install(args.python, binary)
    print(f"installed {installed} (build {record['key']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
