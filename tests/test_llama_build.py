"""packaging/build_llama_cpp.py: portable switches, and a cache key that changes with them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build_llama_cpp",
                                              ROOT / "packaging" / "build_llama_cpp.py")
assert spec and spec.loader
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

AMX_CPU = {"avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "amx_tile", "amx_int8"}


def test_x86_build_is_never_native_and_never_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    args = build.cmake_args("x86_64", AMX_CPU)
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AVX2=ON" in args
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AVX512=OFF"} <= set(args)
    assert not any(arg.endswith("=ON") and "AMX" in arg for arg in args)


def test_a_cpu_without_avx2_gets_a_build_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    assert "-DGGML_AVX2=OFF" in build.cmake_args("x86_64", {"avx", "f16c"})


def test_aarch64_and_explicit_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    assert build.cmake_args("aarch64", set())[0] == "-DGGML_NATIVE=OFF"
    monkeypatch.setenv("LLAMA_CMAKE_ARGS", "-DGGML_CUDA=on -DGGML_NATIVE=OFF")
    assert build.cmake_args("aarch64", set()) == ["-DGGML_CUDA=on", "-DGGML_NATIVE=OFF"]


def test_the_cache_key_covers_the_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    portable = build.build_record(sys.executable)
    monkeypatch.setenv("LLAMA_CMAKE_ARGS", "-DGGML_NATIVE=ON")
    native = build.build_record(sys.executable)
    assert portable["key"] != native["key"]
    assert portable["version"] == native["version"] == build.pinned_version()


def test_the_pin_is_exact() -> None:
    version = build.pinned_version()
    assert version.count(".") == 2 and version.replace(".", "").isdigit()
