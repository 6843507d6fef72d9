"""LoRA training on a tiny random Gemma 3: learning, early stopping, cancel and resume,
the child process, and the adapter llama.cpp loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_gemma import llama_logits, tiny_model, tiny_sets, write_base_gguf

from policy_desktop.finetune.base_model import file_sha256
from policy_desktop.finetune.process import TrainingFailed, run_training
from policy_desktop.finetune.settings import Event, Progress, Status, TrainSettings, Validation
from policy_desktop.finetune.training import CHECKPOINT_FILE, TrainJob, train

FAST = TrainSettings(rank=4, alpha=8.0, dropout=0.0, learning_rate=5e-3, epochs=3,
                     batch_size=4, threads=1, patience=3)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_base_gguf(tiny_model(), tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def job(base: Path, work: Path, settings: TrainSettings = FAST) -> TrainJob:
    train_set, validation = tiny_sets()
    return TrainJob(base_model=base, base_sha256=file_sha256(base), architecture="gemma3",
                    train=train_set, validation=validation, settings=settings, work_dir=work,
                    name="tiny-tuned")


def test_training_lowers_the_validation_loss_and_writes_an_adapter(
        tiny_gguf: Path, tmp_path: Path) -> None:
    events: list[Event] = []
    outcome = train(job(tiny_gguf, tmp_path / "work"), events.append, lambda: False)
    assert outcome.status == "finished"
    assert outcome.before is not None and outcome.after is not None
    assert outcome.after.loss < outcome.before.loss - 0.5
    assert outcome.steps == outcome.total_steps == 18
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 19))
    assert progress[-1].seconds_left == 0 and progress[0].seconds_left is not None
    validations = [e for e in events if isinstance(e, Validation)]
    assert [v.step for v in validations] == [0, 6, 12, 18]
    assert set(outcome.after.per_decision) == {"allow", "deny", "require_attestation",
                                               "require_mfa"}
    assert outcome.adapter_path is not None and outcome.adapter_path.stat().st_size > 0
    tokens = [2, *range(100, 120)]
    tuned = llama_logits(tiny_gguf, tokens, lora=outcome.adapter_path)
    assert np.abs(tuned - llama_logits(tiny_gguf, tokens)).max() > 1e-3


def test_training_stops_early_when_validation_stops_improving(
        tiny_gguf: Path, tmp_path: Path) -> None:
    frozen = TrainSettings(rank=4, alpha=8.0, dropout=0.0, learning_rate=1e-12, epochs=3,
                           batch_size=4, threads=1, eval_every=1, patience=2)
    outcome = train(job(tiny_gguf, tmp_path / "work", frozen), lambda _e: None, lambda: False)
    assert outcome.status == "stopped_early"
    assert (outcome.steps, outcome.best_step) == (2, 0)


def test_a_cancelled_training_resumes_from_its_checkpoint(
        tiny_gguf: Path, tmp_path: Path) -> None:
    steps = TrainSettings(**{**FAST.to_dict(), "eval_every": 3, "epochs": 2})
    whole = train(job(tiny_gguf, tmp_path / "whole", steps), lambda _e: None, lambda: False)

    seen: list[Event] = []
    cancelled = train(job(tiny_gguf, tmp_path / "parts", steps), seen.append,
                      lambda: sum(isinstance(e, Progress) for e in seen) >= 4)
    assert (cancelled.status, cancelled.steps, cancelled.adapter_path) == ("cancelled", 4, None)
    assert (tmp_path / "parts" / CHECKPOINT_FILE).exists()
    resumed_events: list[Event] = []
    resumed = train(job(tiny_gguf, tmp_path / "parts", steps), resumed_events.append,
                    lambda: False)
    assert Status("Resuming from step 4 of 12") in resumed_events
    assert [e.step for e in resumed_events if isinstance(e, Progress)] == list(range(5, 13))
    assert resumed.status == "finished" and resumed.steps == 12
    assert resumed.after is not None and whole.after is not None
    assert resumed.after.loss == pytest.approx(whole.after.loss, rel=1e-3)


def test_the_child_process_relays_events_and_can_be_cancelled(
        tiny_gguf: Path, tmp_path: Path) -> None:
    events: list[Event] = []
    outcome = run_training(job(tiny_gguf, tmp_path / "work"), events.append,
                           lambda: any(isinstance(e, Progress) for e in events))
    assert outcome.status == "cancelled"
    assert 1 <= outcome.steps < outcome.total_steps
    assert any(isinstance(e, Validation) and e.step == 0 for e in events)


def test_a_failing_child_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    broken = TrainJob(base_model=missing, base_sha256="0" * 64, architecture="gemma3",
                      train=tiny_sets()[0], validation=tiny_sets()[1], settings=FAST,
                      work_dir=tmp_path / "work")
    with pytest.raises(TrainingFailed, match=r"absent\.gguf"):
        run_training(broken, lambda _e: None)


def test_a_child_whose_parent_dies_stops_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    script = Path(__file__).with_name("orphan_parent.py")
    env = {**os.environ, "PYTHONPATH": str(script.parent)}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        while parent.stdout.readline().strip() != "Progress":
            pass
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the training child outlived its parent")
    assert (tmp_path / "work" / CHECKPOINT_FILE).exists()


def test_the_decision_tokens_weigh_more_in_the_loss(tiny_gguf: Path) -> None:
    import torch

    from policy_desktop.finetune.base_model import load_base_model
    from policy_desktop.finetune.encoding import Encoder
    from policy_desktop.finetune.training import Batches

    model, tokenizer = load_base_model(tiny_gguf)
    examples = tiny_sets()[0].examples[:3]
    items = [Encoder(tokenizer, "Decide.", 512).encode(e) for e in examples]
    for item, example in zip(items, examples, strict=True):
        spelled = tokenizer.decode(list(item.answer[:item.label_tokens]))
        assert spelled.startswith(example.decision)
        assert not tokenizer.decode(list(item.answer[:item.label_tokens - 1])).startswith(
            example.decision)
    batches = Batches(model, 0)
    with torch.no_grad():
        plain, weighted = (float(batches.answer_loss(items, w)) for w in (1.0, 1e6))
        per_token = []
        for item in items:
            logits = model(torch.tensor([list(item.prompt) + list(item.answer)])).logits[0]
            start = len(item.prompt)
            targets = torch.tensor(item.answer)
            ce = torch.nn.functional.cross_entropy(
                logits[start - 1:start - 1 + len(item.answer)], targets, reduction="none")
            per_token.append((ce, item.label_tokens))
    everything = torch.cat([ce for ce, _ in per_token])
    labels = torch.cat([ce[:n] for ce, n in per_token])
    assert plain == pytest.approx(float(everything.mean()), rel=1e-4)
    assert weighted == pytest.approx(float(labels.mean()), rel=1e-3)


def test_decision_only_trains_the_decision_and_its_closing_token(tiny_gguf: Path) -> None:
    from policy_desktop.finetune.base_model import load_base_model
    from policy_desktop.finetune.encoding import Encoder

    _model, tokenizer = load_base_model(tiny_gguf)
    for example in tiny_sets()[0].examples[:4]:
        full = Encoder(tokenizer, "Decide.", 512).encode(example)
        short = Encoder(tokenizer, "Decide.", 512, decision_only=True).encode(example)
        assert short.prompt == full.prompt and short.label_tokens == full.label_tokens
        assert short.answer == full.answer[:full.label_tokens + 1]
        assert tokenizer.decode(list(short.answer)).startswith(example.decision + '"')


def test_lora_on_the_last_layers_only(tiny_gguf: Path, tmp_path: Path) -> None:
    from tiny_gemma import LAYERS

    from policy_desktop.finetune.lora_gguf import read_lora_tensor_names

    settings = TrainSettings(**{**FAST.to_dict(), "epochs": 1, "lora_layers": 2})
    outcome = train(job(tiny_gguf, tmp_path / "work", settings), lambda _e: None,
                    lambda: False)
    assert outcome.adapter_path is not None
    layers = {int(name.split(".")[1]) for name in read_lora_tensor_names(outcome.adapter_path)}
    assert layers == {LAYERS - 2, LAYERS - 1}
