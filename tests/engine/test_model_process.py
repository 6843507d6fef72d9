"""The model's child process: crashes, kills and hangs become errors; the parent goes on.

Fast tests use scripted children (``fake_model_servers``: real processes, real signals,
no llama.cpp); the slow ones kill the real model's child mid-answer.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import fake_model_servers as fakes
import pytest

from policy_desktop.engine.bundled_model import bundled_model_path
from policy_desktop.engine.child_process import describe_exit
from policy_desktop.engine.gguf import ModelFileError
from policy_desktop.engine.llm import Cancelled, EngineSettings
from policy_desktop.engine.model_process import ModelCrashed, ModelHung, ModelProcess


@pytest.fixture(scope="module")
def gguf() -> Path:
    """A real GGUF file: the parent reads its header before starting the child."""
    return bundled_model_path()


def settings(gguf: Path) -> EngineSettings:
    return EngineSettings(model_path=gguf, n_ctx=1024, max_tokens=80)


def test_answers_stream_and_report_progress(gguf: Path) -> None:
    statuses: list[str] = []
    with ModelProcess(settings(gguf), target=fakes.answers, on_status=statuses.append) as model:
        pieces: list[str] = []
        progress: list[tuple[int, int]] = []
        answer = model.decide("system", "user", on_text=pieces.append,
                              on_progress=lambda done, total: progress.append((done, total)))
        assert answer.decision == "deny"
        assert "".join(pieces).startswith('{"decision": "deny"')
        assert progress == [(0, 40), (40, 40)]
        assert statuses == ["Loading the scripted model…"]
        assert model.info.path == gguf and model.pid is not None


def test_a_crash_at_decode_names_the_signal_and_the_model_file(gguf: Path) -> None:
    model = ModelProcess(settings(gguf), target=fakes.crashes_on_decide)
    with pytest.raises(ModelCrashed) as crash:
        model.decide("system", "user")
    message = str(crash.value)
    assert "SIGSEGV (segmentation fault)" in message and str(gguf) in message
    with pytest.raises(ModelCrashed):  # a dead model stays dead: no half-answers later
        model.decide("system", "user")
    model.close()


def test_a_crash_while_loading_is_reported(gguf: Path) -> None:
    with pytest.raises(ModelCrashed, match=r"while loading .*SIGSEGV"):
        ModelProcess(settings(gguf), target=fakes.crashes_on_load)


def test_a_load_error_arrives_as_model_file_error(gguf: Path) -> None:
    with pytest.raises(ModelFileError, match="could not load the model"):
        ModelProcess(settings(gguf), target=fakes.reports_a_load_error)


def test_a_wrong_file_fails_before_any_process_starts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match=r"broken\.gguf"):
        ModelProcess(EngineSettings(model_path=broken), target=fakes.crashes_on_load)


@pytest.mark.parametrize("sent", [signal.SIGKILL, signal.SIGSEGV])
def test_a_child_killed_from_outside_mid_answer(gguf: Path, sent: signal.Signals) -> None:
    model = ModelProcess(settings(gguf), target=fakes.answers)
    pid = model.pid
    assert pid is not None
    threading.Timer(0.3, os.kill, (pid, sent)).start()
    with pytest.raises(ModelCrashed, match=sent.name):
        model.decide("system", "user")
    model.close()


def test_a_hung_model_is_stopped_after_the_stall_time(gguf: Path) -> None:
    model = ModelProcess(settings(gguf), target=fakes.hangs_on_decide, stall_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(ModelHung, match="sent nothing for 1 s"):
        model.decide("system", "user")
    assert time.monotonic() - started < 10
    assert not model._process.is_alive()
    model.close()


def test_stop_is_honoured_by_the_child(gguf: Path) -> None:
    with ModelProcess(settings(gguf), target=fakes.answers) as model:
        asked = threading.Event()
        threading.Timer(0.2, asked.set).start()
        with pytest.raises(Cancelled):
            model.decide("system", "user", should_stop=asked.is_set)
        assert model.decide("system", "user").decision == "deny"  # still usable


def test_close_ends_the_child(gguf: Path) -> None:
    model = ModelProcess(settings(gguf), target=fakes.answers)
    process = model._process
    model.close()
    model.close()
    assert not process.is_alive()


def test_exit_descriptions() -> None:
    assert describe_exit(-9).startswith("SIGKILL (killed: out of memory")
    assert describe_exit(-4).startswith("SIGILL (illegal instruction")
    assert describe_exit(3) == "exit status 3"


def test_the_child_dies_with_its_parent(tmp_path: Path, gguf: Path) -> None:
    """A parent killed with SIGKILL must not leave its model child running (orphaned)."""
    import subprocess
    import sys

    pid_file = tmp_path / "child.pid"
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "import fake_model_servers as fakes\n"
        "from pathlib import Path\n"
        "from policy_desktop.engine.llm import EngineSettings\n"
        "from policy_desktop.engine.model_process import ModelProcess\n"
        f"model = ModelProcess(EngineSettings(model_path=Path({str(gguf)!r})), "
        "target=fakes.hangs_on_decide)\n"
        f"Path({str(pid_file)!r}).write_text(str(model.pid))\n"
        "time.sleep(3600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.1)
        child = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the orphaned model child kept running"
            time.sleep(0.1)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- the real model ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGSEGV, signal.SIGKILL])
def test_the_real_models_child_killed_mid_answer_then_a_fresh_one_works(
        sent: signal.Signals) -> None:
    model = ModelProcess(EngineSettings(n_ctx=2048, max_tokens=200))
    pid = model.pid
    assert pid is not None
    started = threading.Event()

    def kill_once_generating(piece: str) -> None:
        if not started.is_set():
            started.set()
            os.kill(pid, sent)

    with pytest.raises(ModelCrashed) as crash:
        model.decide("Decide access.", "Situation: a guest deletes the production database.",
                     on_text=kill_once_generating)
    assert sent.name in str(crash.value) and "gemma" in str(crash.value).lower()
    model.close()
    with ModelProcess(EngineSettings(n_ctx=2048, max_tokens=120)) as fresh:
        answer = fresh.decide("Decide access.", "Situation: a member reads the README.")
        assert answer.generated_tokens > 0
