"""A tiny randomly initialised Gemma 3 model, as PyTorch and as a base GGUF llama.cpp loads.

The GGUF is written the way llama.cpp's ``convert_hf_to_gguf.py`` writes Gemma 3: the same
metadata keys, tensor names, and RMSNorm weights stored as ``1 + w`` (Gemma's norm
multiplies by ``1 + w``; llama.cpp multiplies by the stored weight). The vocabulary is a
small SentencePiece-style one (specials, 256 byte tokens, a few words) so llama.cpp accepts
the file; the tests feed token ids directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

LAYERS = 6
"""Enough for Gemma 3's pattern of five sliding-window layers and one global layer."""
WORDS = ["▁allow", "▁deny", "▁require", "_attestation", "_mfa", '"', "{", "}", "▁the", "▁a"]
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
VOCAB = [*SPECIALS, *(f"<0x{b:02X}>" for b in range(256)), *WORDS]

_LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def tiny_model(seed: int = 0) -> Any:
    """A random Gemma3ForCausalLM (float32, eval mode) with non-trivial norm weights.

    Head size 256 as in Gemma 3 270M: transformers' GGUF loader assumes
    ``query_pre_attn_scalar = 256`` and llama.cpp scales by the head size.
    """
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(VOCAB), hidden_size=64, intermediate_size=128,
        num_hidden_layers=LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=256,
        query_pre_attn_scalar=256, sliding_window=512, max_position_embeddings=2048,
        rms_norm_eps=1e-6)
    model = Gemma3ForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.normal_(0.0, 0.2)
    return model


def write_base_gguf(model: Any, path: Path) -> Path:
    """The model as an F32 Gemma 3 GGUF."""
    import gguf

    config = model.config
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_string("general.name", "tiny-gemma3")
    writer.add_uint32("general.file_type", 0)
    writer.add_uint32("gemma3.context_length", config.max_position_embeddings)
    writer.add_uint32("gemma3.embedding_length", config.hidden_size)
    writer.add_uint32("gemma3.block_count", config.num_hidden_layers)
    writer.add_uint32("gemma3.feed_forward_length", config.intermediate_size)
    writer.add_uint32("gemma3.attention.head_count", config.num_attention_heads)
    writer.add_uint32("gemma3.attention.head_count_kv", config.num_key_value_heads)
    writer.add_float32("gemma3.attention.layer_norm_rms_epsilon", config.rms_norm_eps)
    writer.add_uint32("gemma3.attention.key_length", config.head_dim)
    writer.add_uint32("gemma3.attention.value_length", config.head_dim)
    writer.add_float32("gemma3.rope.freq_base", 1_000_000.0)
    writer.add_uint32("gemma3.attention.sliding_window", config.sliding_window)
    writer.add_string("tokenizer.ggml.model", "llama")
    writer.add_string("tokenizer.ggml.pre", "default")
    writer.add_array("tokenizer.ggml.tokens", VOCAB)
    writer.add_array("tokenizer.ggml.scores", [0.0] * 4 + [-1000.0] * 256
                     + [-float(i) for i in range(len(WORDS))])
    writer.add_array("tokenizer.ggml.token_type", [3, 3, 3, 2] + [6] * 256 + [1] * len(WORDS))
    writer.add_uint32("tokenizer.ggml.bos_token_id", 2)
    writer.add_uint32("tokenizer.ggml.eos_token_id", 1)
    writer.add_uint32("tokenizer.ggml.unknown_token_id", 3)
    writer.add_uint32("tokenizer.ggml.padding_token_id", 0)
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_bool("tokenizer.ggml.add_space_prefix", False)
    for name, array in _base_tensors(model):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _base_tensors(model: Any) -> list[tuple[str, np.ndarray]]:
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tensors = [("token_embd.weight", state["model.embed_tokens.weight"]),
               ("output_norm.weight", state["model.norm.weight"] + 1.0)]
    for layer in range(model.config.num_hidden_layers):
        for hf_name, gguf_name in _LAYER_NAMES.items():
            array = state[f"model.layers.{layer}.{hf_name}.weight"]
            if hf_name.endswith("norm"):
                array = array + 1.0
            tensors.append((f"blk.{layer}.{gguf_name}.weight", np.ascontiguousarray(array)))
    return tensors


def llama_logits(base: Path, tokens: list[int], lora: Path | None = None) -> np.ndarray:
    """llama.cpp's logits at every position of ``tokens`` (one batch, CPU)."""
    from llama_cpp import Llama

    kwargs: dict[str, Any] = {"lora_path": str(lora)} if lora is not None else {}
    llm = Llama(model_path=str(base), n_ctx=128, n_batch=128, n_threads=1, logits_all=True,
                verbose=False, **kwargs)
    try:
        llm.eval(tokens)
        return np.array(llm.scores[:len(tokens)], dtype=np.float32)
    finally:
        llm.close()


def tiny_sets(count: int = 24, validation: int = 8) -> tuple[Any, Any]:
    """Train and validation sets with a learnable rule: the actor's letter decides."""
    from policy_desktop.finetune.dataset import TUNED_PROMPT_VERSION, TrainingExample, TrainingSet
    from policy_desktop.vocabulary import DECISIONS

    def example(index: int) -> TrainingExample:
        label = DECISIONS[index % 4]
        return TrainingExample(
            decision_id=f"d{index:03d}", situation=f"actor: {'adrm'[index % 4]}{index}",
            answer=f'{{"decision": "{label}", "reasoning": "r"}}', decision=label)

    def make(indices: range) -> TrainingSet:
        return TrainingSet(examples=tuple(example(i) for i in indices), system="Decide.",
                           prompt_version=TUNED_PROMPT_VERSION)

    return make(range(count)), make(range(count, count + validation))
