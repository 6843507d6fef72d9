"""The GGUF LoRA adapter: names as llama.cpp expects, and llama.cpp agrees with PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_gemma import llama_logits, tiny_model, write_base_gguf

from policy_desktop.finetune.adapter import apply_lora, lora_state
from policy_desktop.finetune.lora_gguf import (
    AdapterFormatError,
    gguf_tensor_name,
    read_lora_alpha,
    write_lora_gguf,
)

TOKENS = [2, *range(260, 270), 100, 101, 102, 5, 6, 7, 8, 9, 263, 264]


def test_peft_names_map_to_llama_cpp_names() -> None:
    assert gguf_tensor_name("base_model.model.model.layers.3.mlp.up_proj.lora_B.weight") == (
        "blk.3.ffn_up.weight.lora_b")
    assert gguf_tensor_name(
        "base_model.model.model.layers.12.self_attn.o_proj.lora_A.default.weight") == (
        "blk.12.attn_output.weight.lora_a")
    with pytest.raises(AdapterFormatError):
        gguf_tensor_name("base_model.model.model.embed_tokens.lora_A.weight")


def _peft(model: Any, rank: int = 4, alpha: float = 8.0) -> Any:
    import torch

    peft_model = apply_lora(model, rank=rank, alpha=alpha)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero: make the adapter do something
                parameter.normal_(0.0, 0.5)
    return peft_model.eval()


def test_llama_cpp_and_pytorch_agree_with_and_without_the_adapter(tmp_path: Path) -> None:
    import torch

    model = tiny_model()
    base = write_base_gguf(model, tmp_path / "tiny.gguf")
    with torch.no_grad():
        expected_base = model(torch.tensor([TOKENS])).logits[0].numpy()
    np.testing.assert_allclose(llama_logits(base, TOKENS), expected_base, atol=5e-3, rtol=1e-2)

    peft_model = _peft(model)
    adapter = write_lora_gguf(tmp_path / "adapter.gguf", lora_state(peft_model),
                              alpha=8.0, architecture="gemma3", name="tiny")
    assert read_lora_alpha(adapter) == 8.0
    with torch.no_grad():
        expected = peft_model(torch.tensor([TOKENS])).logits[0].numpy()
    assert np.abs(expected - expected_base).max() > 0.05  # the adapter changes the answer
    got = llama_logits(base, TOKENS, lora=adapter)
    np.testing.assert_allclose(got, expected, atol=5e-3, rtol=1e-2)
    # llama.cpp keeps its KV cache in F16: close, not equal; the choices agree
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9


def test_a_state_without_lora_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterFormatError, match="no LoRA weights"):
        write_lora_gguf(tmp_path / "a.gguf", {}, alpha=1.0, architecture="gemma3")
    assert not (tmp_path / "a.gguf").exists()
