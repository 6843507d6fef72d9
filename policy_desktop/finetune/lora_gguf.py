"""A PEFT LoRA adapter as a GGUF adapter file that llama.cpp loads (``Llama(lora_path=...)``).

The layout is the one llama.cpp's ``convert_lora_to_gguf.py`` writes: metadata
``general.architecture`` (the base model's), ``general.type = "adapter"``,
``adapter.type = "lora"`` and ``adapter.lora.alpha``; for every adapted weight
``<base tensor>.lora_a`` holding A (``rank x in``) and ``<base tensor>.lora_b`` holding B
(``out x rank``), in PyTorch's row-major shapes (GGUF lists dimensions reversed, which is
what llama.cpp checks against the base tensor). llama.cpp scales ``B @ A`` by
``alpha / rank``, as PEFT does without rsLoRA.

Gemma's attention and MLP projections are stored in llama.cpp's GGUF without permutation,
so A and B map over unchanged (the round-trip test checks next-token logits agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PROJECTION_NAMES: dict[str, str] = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Hugging Face module path inside a decoder layer -> llama.cpp tensor name."""

TARGET_MODULES: tuple[str, ...] = tuple(path.split(".")[1] for path in PROJECTION_NAMES)
"""PEFT ``target_modules``: every attention and MLP projection."""

_LORA_KEY = re.compile(
    r"layers\.(?P<layer>\d+)\.(?P<module>(?:self_attn|mlp)\.\w+_proj)\.lora_(?P<ab>[AB])"
    r"(?:\.[\w-]+)?\.weight$")


class AdapterFormatError(ValueError):
    """A LoRA weight name or shape has no llama.cpp counterpart."""


def gguf_tensor_name(peft_key: str) -> str:
    """``...layers.3.mlp.up_proj.lora_B.weight`` -> ``blk.3.ffn_up.weight.lora_b``."""
    match = _LORA_KEY.search(peft_key)
    if match is None or match["module"] not in PROJECTION_NAMES:
        raise AdapterFormatError(f"not a LoRA weight of an attention/MLP projection: {peft_key}")
    suffix = "lora_a" if match["ab"] == "A" else "lora_b"
    return f"blk.{match['layer']}.{PROJECTION_NAMES[match['module']]}.weight.{suffix}"


def adapter_tensors(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """GGUF name -> float32 array for every LoRA weight of a PEFT state dict."""
    tensors: dict[str, np.ndarray] = {}
    for key, value in state.items():
        array = value.detach().to("cpu").float().numpy() if hasattr(value, "detach") \
            else np.asarray(value, dtype=np.float32)
        tensors[gguf_tensor_name(key)] = np.ascontiguousarray(array, dtype=np.float32)
    for name, array in tensors.items():
        if name.endswith(".lora_a"):
            partner = tensors.get(name[:-1] + "b")
            if partner is None or partner.shape[1] != array.shape[0]:
                raise AdapterFormatError(f"{name}: no matching lora_b of rank {array.shape[0]}")
    return tensors


def write_lora_gguf(path: Path | str, state: Mapping[str, Any], *, alpha: float,
                    architecture: str, name: str | None = None) -> Path:
    """Write the LoRA weights of ``state`` (a PEFT adapter state dict) as a GGUF adapter.

    The file is written beside ``path`` and renamed into place, so it is whole or absent.
    """
    import gguf

    target = Path(path)
    tensors = adapter_tensors(state)
    if not tensors:
        raise AdapterFormatError("the state dict holds no LoRA weights")
    partial = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), architecture)
    try:
        writer.add_string("general.type", "adapter")
        if name:
            writer.add_string("general.name", name)
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(alpha))
        for tensor_name in sorted(tensors, key=_tensor_order):
            writer.add_tensor(tensor_name, tensors[tensor_name])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    partial.replace(target)
    return target


def _tensor_order(name: str) -> tuple[int, str]:
    layer = int(name.split(".")[1])
    return layer, name


def read_lora_alpha(path: Path | str) -> float:
    """``adapter.lora.alpha`` of an adapter file (to check what was written)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.fields["adapter.lora.alpha"]
    return float(field.parts[field.data[0]][0])


def read_lora_tensor_names(path: Path | str) -> list[str]:
    """The tensor names of an adapter file (``blk.<layer>.<tensor>.lora_a|b``)."""
    import gguf

    return [tensor.name for tensor in gguf.GGUFReader(str(path)).tensors]
