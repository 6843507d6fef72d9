"""The child-process embedder gives the in-process embedder's vectors, and keeps torch out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from policy_desktop.engine.embedding_process import ProcessEmbedder
from policy_desktop.engine.embeddings import Embedder

TEXTS = ["Members may read documentation.", "Guests may not change source code.", ""]


@pytest.mark.slow
def test_same_vectors_as_in_process_and_errors_come_back() -> None:
    remote = ProcessEmbedder()
    try:
        vectors = remote.encode(TEXTS)
        assert vectors.shape == (3, 384)
        np.testing.assert_allclose(vectors, Embedder().encode(TEXTS), atol=1e-5)
        assert remote.encode([]).shape[0] == 0
        with pytest.raises(Exception):  # noqa: B017 - whatever the child raised, re-raised here
            remote.encode([None])  # type: ignore[list-item]
        assert remote.encode(TEXTS[:1]).shape == (1, 384)  # still serving after an error
    finally:
        remote.close()
        remote.close()


@pytest.mark.slow
def test_parent_never_imports_torch() -> None:
    script = (
        "import sys\n"
        "from policy_desktop.engine.embedding_process import ProcessEmbedder\n"
        "e = ProcessEmbedder()\n"
        "assert e.encode(['a reasoning']).shape == (1, 384)\n"
        "e.close()\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
        "print('clean')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


@pytest.mark.slow
def test_a_dead_child_is_replaced_by_the_next_call() -> None:
    import os
    import signal

    remote = ProcessEmbedder()
    try:
        expected = remote.encode(TEXTS[:2])
        first = remote.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)  # as the out-of-memory killer would, while idle
        np.testing.assert_allclose(remote.encode(TEXTS[:2]), expected, atol=1e-6)
        assert remote.pid not in (None, first) and remote.starts == 2  # a fresh child served
    finally:
        remote.close()


@pytest.mark.slow
def test_the_torch_child_dies_with_a_killed_parent() -> None:
    """Issue 13: a killed GUI left its ~750 MB embedding child running with PPID 1."""
    import os
    import time

    script = (
        "import time\n"
        "from policy_desktop.engine.embedding_process import ProcessEmbedder\n"
        "e = ProcessEmbedder()\n"
        "assert e.encode(['a reasoning']).shape == (1, 384)\n"
        "print(e.pid, flush=True)\n"
        "time.sleep(600)\n")
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            with open(f"/proc/{child}/stat", encoding="ascii") as stat:
                assert int(stat.read().rsplit(")", 1)[1].split()[1]) == parent.pid
        finally:
            parent.kill()  # SIGKILL: no atexit, no close()
            parent.wait(timeout=30)

    def running() -> bool:
        try:
            with open(f"/proc/{child}/stat", encoding="ascii") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 20
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    still = running()
    if still:
        os.kill(child, 9)
    assert not still, "the embedding child outlived its parent"
