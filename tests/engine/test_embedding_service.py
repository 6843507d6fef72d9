"""The embedding service: one child, restarted when it dies, serving threads one at a time,
ending with its parent. Real ``spawn`` children with a light encoder (tests/fake_encoders.py);
the real MiniLM child is tested in test_embedding_process.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import fake_encoders as fakes
import numpy as np
import pytest

from policy_desktop.engine.embedding_process import EmbeddingProcessDied, ProcessEmbedder


def child_pids(parent: int | None = None) -> set[int]:
    """Live (not zombie) processes whose parent is ``parent`` (this process), from /proc."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_embedding_child(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in command and b"resource_tracker" not in command


@pytest.fixture
def service() -> Iterator[ProcessEmbedder]:
    embedder = ProcessEmbedder(encoder_factory=fakes.hash_encoder)
    yield embedder
    embedder.close()


def test_vectors_come_from_one_child_started_on_first_use(service: ProcessEmbedder) -> None:
    before = {pid for pid in child_pids() if is_embedding_child(pid)}
    assert service.pid is None and service.starts == 0  # nothing started yet
    vectors = service.encode(["a", "b"])
    np.testing.assert_array_equal(vectors, fakes.hash_vectors(["a", "b"]))
    assert service.encode([]).shape == (0, fakes.DIMENSION)
    assert service.pid is not None and service.starts == 1
    assert {pid for pid in child_pids() if is_embedding_child(pid)} - before == {service.pid}
    with pytest.raises(TypeError, match="not a text"):
        service.encode([None])  # type: ignore[list-item]
    assert service.encode(["c"]).shape == (1, fakes.DIMENSION)  # still serving after an error
    assert service.starts == 1


def test_threads_share_one_child_and_each_gets_its_own_answer(service: ProcessEmbedder) -> None:
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for round_ in range(20):
                texts = [f"thread {number} round {round_} text {i}" for i in range(number + 1)]
                vectors = service.encode(texts)
                np.testing.assert_array_equal(vectors, fakes.hash_vectors(texts))
                results[number] = vectors
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 6
    assert service.starts == 1


def test_a_child_killed_while_idle_is_replaced_silently(service: ProcessEmbedder) -> None:
    service.encode(["warm"])
    first = service.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    assert service.encode(["after the kill"]).shape == (1, fakes.DIMENSION)
    assert service.pid not in (None, first) and service.starts == 2


def test_a_child_dying_mid_request_is_replaced_and_the_request_sent_again(
        service: ProcessEmbedder, tmp_path: Path) -> None:
    service.encode(["warm"])
    first = service.pid
    request = [f"{fakes.DIE_ONCE}{tmp_path / 'died'}", "other"]
    np.testing.assert_array_equal(service.encode(request), fakes.hash_vectors(request))
    assert (tmp_path / "died").read_text(encoding="utf-8") == str(first)  # it did die
    assert service.pid not in (None, first) and service.starts == 2


def test_a_request_that_kills_every_child_fails_and_the_next_one_works(
        service: ProcessEmbedder) -> None:
    with pytest.raises(EmbeddingProcessDied, match=r"died twice.*SIGKILL"):
        service.encode([fakes.DIE])
    assert service.starts == 2 and service.pid is None
    assert service.encode(["fine"]).shape == (1, fakes.DIMENSION)
    assert service.starts == 3


def test_close_ends_the_child_and_a_later_request_starts_another(
        service: ProcessEmbedder) -> None:
    service.encode(["x"])
    pid = service.pid
    service.close()
    service.close()
    assert pid not in child_pids() and service.pid is None
    assert service.encode(["y"]).shape == (1, fakes.DIMENSION) and service.starts == 2


PARENT = """
import sys, time
sys.path.insert(0, {tests!r})
import fake_encoders
from policy_desktop.engine.embedding_process import ProcessEmbedder
service = ProcessEmbedder(encoder_factory=fake_encoders.hash_encoder)
service.encode(["hello"])
print(service.pid, flush=True)
time.sleep(600)
"""


def test_the_child_dies_with_its_parent() -> None:
    """A killed GUI (SIGKILL: no clean-up runs) must not leave the embedding child behind."""
    tests = str(Path(fakes.__file__).parent)
    with subprocess.Popen([sys.executable, "-c", PARENT.format(tests=tests)],
                          stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert child in child_pids(parent.pid) and alive(child)
        finally:
            parent.kill()
            parent.wait(timeout=30)
    deadline = time.monotonic() + 15
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "the embedding child outlived its parent"
