"""Model versions: the registry's record, resolve_model, and policy-desktop finetune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_helpers import reviewed_log
from tiny_gemma import tiny_model, write_base_gguf

from policy_desktop.cli import main
from policy_desktop.finetune.base_model import file_sha256
from policy_desktop.finetune.registry import (
    ModelRegistry,
    ModelRegistryError,
    models_dir,
    resolve_model,
)
from policy_desktop.vocabulary import DECISIONS, UNPARSEABLE


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _record(base: Path) -> dict[str, object]:
    return {"base_model": {"path": str(base), "sha256": file_sha256(base), "name": "Tiny",
                           "quantization": "F32", "architecture": "gemma3"},
            "prompt_version": "v3_tuned_short", "adapter": {"rank": 4, "alpha": 8.0}}


def test_registered_models_live_under_the_data_folder(
        tmp_path: Path, isolated_user_dirs: Path) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"base weights")
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"adapter weights")
    registry = ModelRegistry()
    expected_root = isolated_user_dirs / "data" / "policy-desktop" / "models"
    assert registry.root == models_dir() == expected_root
    model = registry.register("tuned-1", adapter, _record(base))
    assert registry.names() == ["tuned-1"]
    saved = json.loads((registry.root / "tuned-1" / "model.json").read_text(encoding="utf-8"))
    assert saved["adapter"]["sha256"] == file_sha256(adapter)
    choice = resolve_model("tuned-1")
    assert choice == model.choice()
    assert (choice.base_model, choice.lora_path.read_bytes()) == (base, b"adapter weights")
    assert choice.model_name == "Tiny + tuned-1"
    assert choice.model_version == f"F32 lora:{file_sha256(adapter)[:12]}"
    assert choice.prompt_version == "v3_tuned_short"
    with pytest.raises(ModelRegistryError, match="already exists"):
        registry.register("tuned-1", adapter, _record(base))
    with pytest.raises(ModelRegistryError, match="invalid model name"):
        registry.register("../x", adapter, _record(base))


def test_resolve_refuses_changed_or_missing_files(tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"base weights")
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"adapter weights")
    registry = ModelRegistry()
    model = registry.register("t", adapter, _record(base))
    base.write_bytes(b"other weights")
    with pytest.raises(ModelRegistryError, match="has changed since training"):
        resolve_model("t")
    assert resolve_model("t", verify=False).lora_path == model.adapter_path
    model.adapter_path.unlink()
    with pytest.raises(ModelRegistryError, match="is missing"):
        resolve_model("t")
    with pytest.raises(ModelRegistryError, match="registered: t"):
        resolve_model("nope")


def test_finetune_command_trains_registers_and_lists(
        tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, ids = reviewed_log(db_path, 50)
    log.close()
    base = write_base_gguf(tiny_model(), tmp_path / "tiny.gguf")
    # the old side uses the short prompt too: the tiny vocabulary spells the policy out in
    # more tokens than its context holds
    status = main(["--db", str(db_path), "finetune", "--name", "tiny-v1", "--model", str(base),
                   "--epochs", "1", "--rank", "4", "--threads", "1", "--batch-size", "8",
                   "--compare-prompt", "v3_tuned_short"])
    captured = capsys.readouterr()
    out = captured.out
    assert status == 0, out + captured.err
    assert "Training 'tiny-v1' on 50 reviewed decisions" in out
    assert "step 6/6" in out and "Validation accuracy" in out  # 41 training examples / 8
    record = ModelRegistry().get("tiny-v1").record
    assert record["training_data"]["examples"] == 50
    assert record["training_data"]["validation"] == 9  # 3 of each of the 17, 17, 16
    assert record["provenance"]["reviewers"] == {"dana": 50}
    assert {d["decision_id"] for d in record["provenance"]["decisions"]} == set(ids)
    assert record["base_model"]["sha256"] == file_sha256(base)
    assert record["settings"]["rank"] == 4 and record["result"]["steps"] == 6
    assert record["prompt_version"] == "v3_tuned_short"
    assert "Deciding the 9 held-out reviewed decisions again: base + v3_tuned_short, then " \
           "tiny-v1 + v3_tuned_short" in out
    assert "McNemar exact p = " in out
    assert "Run the scenario suite with it: policy-desktop run --model tiny-v1 --full" in out
    compared = json.loads((ModelRegistry().get("tiny-v1").folder / "comparison.json")
                          .read_text(encoding="utf-8"))
    validation_ids = record["training_data"]["validation_ids"]
    assert [d["id"] for d in compared["decisions"]] == validation_ids
    assert compared["cases"] == 9 and compared["overall"]["n"] == 9
    # a random tiny model may run out of tokens inside its reasoning (unparseable)
    answers = {*DECISIONS, UNPARSEABLE}
    assert all(d["old"] in answers and d["new"] in answers for d in compared["decisions"])
    assert all(d["expected"] in DECISIONS for d in compared["decisions"])
    right_new = sum(d["new"] == d["expected"] for d in compared["decisions"])
    assert compared["overall"]["accuracy_new"] == pytest.approx(right_new / 9)

    assert main(["finetune", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("tiny-v1  ") and "50 examples" in listed

    assert main(["--db", str(db_path), "finetune", "--name", "tiny-v1",
                 "--model", str(base)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_finetune_command_refuses_below_the_gate(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reviewed_log(db_path, 10)[0].close()
    assert main(["--db", str(db_path), "finetune", "--name", "x"]) == 1
    assert "50" in capsys.readouterr().err
    assert ModelRegistry().names() == []
