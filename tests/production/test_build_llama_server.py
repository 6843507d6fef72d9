"""packaging/build_llama_server.py: portable switches, no downloads, a cache key of both."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from production_helpers import ROOT


def _script() -> ModuleType:
    path = ROOT / "packaging" / "build_llama_server.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("build_llama_server", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


def test_switches_are_the_portable_ones_plus_no_curl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    script = _script()
    args = script.cmake_args()
    assert "-DGGML_NATIVE=OFF" in args and "-DLLAMA_CURL=OFF" in args
    assert "-DBUILD_SHARED_LIBS=OFF" in args
    assert not any("march=native" in a for a in args)


def test_the_cache_key_follows_the_switches(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.delenv("LLAMA_CMAKE_ARGS", raising=False)
    script = _script()
    portable = script.build_record()
    monkeypatch.setenv("LLAMA_CMAKE_ARGS", "-DGGML_NATIVE=ON")
    native = script.build_record()
    assert portable["key"] != native["key"]
    assert "-DGGML_NATIVE=ON" in native["cmake_args"]
    assert "-DLLAMA_CURL=OFF" in native["cmake_args"]  # never downloads, whatever the switches
    monkeypatch.setenv("POLICY_DESKTOP_SERVER_CACHE", str(tmp_path))
    assert script.cache_root() == tmp_path
