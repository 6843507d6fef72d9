"""PEFT LoRA on every attention and MLP projection (imports torch/peft: child only)."""

from __future__ import annotations

import warnings
from typing import Any

from policy_desktop.finetune.lora_gguf import TARGET_MODULES


def apply_lora(model: Any, *, rank: int, alpha: float, dropout: float = 0.0,
               last_layers: int | None = None) -> Any:
    """``model`` wrapped by PEFT with a fresh LoRA adapter (B starts at zero), on every
    decoder layer or on the last ``last_layers`` of them."""
    from peft import LoraConfig, get_peft_model

    layers = None
    if last_layers is not None:
        count = int(model.config.num_hidden_layers)
        layers = list(range(max(0, count - last_layers), count))
    # PEFT annotates lora_alpha as int but scales by alpha / r in floating point.
    config = LoraConfig(r=rank, lora_alpha=alpha,  # type: ignore[arg-type]
                        lora_dropout=dropout, layers_to_transform=layers,
                        target_modules=list(TARGET_MODULES), bias="none", task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        # peft 0.21 reads transformers' deprecated is_gradient_checkpointing alias
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                                category=FutureWarning)
        return get_peft_model(model, config)


def lora_state(peft_model: Any) -> dict[str, Any]:
    """The adapter's weights (PEFT names, adapter name removed), detached copies."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(peft_model, save_embedding_layers=False)
    return {k: v.detach().clone() for k, v in state.items()}


def load_lora_state(peft_model: Any, state: dict[str, Any]) -> None:
    """Put weights from :func:`lora_state` back into the adapter."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(peft_model, state)
