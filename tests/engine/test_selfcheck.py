"""The setup's self-check: a short decode of the real build, and its failure message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fake_model_servers as fakes
import pytest

from policy_desktop.engine import selfcheck
from policy_desktop.engine.bundled_model import bundled_model_path


def test_a_crashing_decode_fails_the_check_and_names_the_cause() -> None:
    passed, message = selfcheck.check(target=fakes.crashes_on_decide,
                                      model_path=bundled_model_path())
    assert not passed
    assert "self-check FAILED" in message and "SIGSEGV (segmentation fault)" in message
    assert "packaging/build_llama_cpp.py" in message
    assert "Installed:" in message


def test_the_build_record_is_described(tmp_path: Path) -> None:
    record = tmp_path / "llama-cpp-build.json"
    assert "no build record" in selfcheck.build_description(record)
    record.write_text(json.dumps({"version": "0.3.36", "key": "0.3.36-abc",
                                  "cmake_args": ["-DGGML_NATIVE=OFF"]}))
    assert selfcheck.build_description(record) == (
        "llama-cpp-python 0.3.36 build 0.3.36-abc (-DGGML_NATIVE=OFF)")


@pytest.mark.slow
def test_the_installed_build_passes_in_a_fresh_process() -> None:
    done = subprocess.run([sys.executable, "-m", "policy_desktop.engine.selfcheck"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "self-check passed" in done.stdout and "-DGGML_NATIVE=OFF" in done.stdout
