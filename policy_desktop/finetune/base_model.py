"""The base GGUF as a PyTorch model and tokenizer, converted once and cached (child only).

transformers reads a GGUF directly, but converting the GGUF's tokenizer into a fast
tokenizer and parsing its 262k-entry vocabulary dominates that load; the converted model
(float32 safetensors) and tokenizer are saved under the user cache
(``$XDG_CACHE_HOME/policy-desktop/finetune/base/<sha256 of the GGUF>``) and later loads
read those. Imports torch and transformers: never call this in the GUI process.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policy_desktop.paths import cache_dir

_COMPLETE = "complete"
StatusFn = Callable[[str], None]


def file_sha256(path: Path | str) -> str:
    """sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(4 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_dir(gguf_path: Path | str, sha256: str | None = None) -> Path:
    """Where the converted model for this GGUF lives (content-addressed)."""
    import transformers

    digest = sha256 or file_sha256(gguf_path)
    return cache_dir() / "finetune" / "base" / f"{digest[:24]}-tf{transformers.__version__}"


def load_base_model(gguf_path: Path | str, *, sha256: str | None = None,
                    on_status: StatusFn | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for the GGUF, in float32, from the cache when it is there."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    status = on_status or (lambda _text: None)
    gguf_path = Path(gguf_path)
    cached = converted_dir(gguf_path, sha256)
    if not (cached / _COMPLETE).exists():
        status("Converting the base model for training (first time only)…")
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        _save(cached, model, tokenizer)
        # train the saved copy: the GGUF-loaded model keeps transformers' GGUF quantizer
        # state, and every run (a resumed one too) should start from the same model
        del model, tokenizer
    status("Loading the base model…")
    model = AutoModelForCausalLM.from_pretrained(cached, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(cached)
    return model, tokenizer


def _save(target: Path, model: Any, tokenizer: Any) -> None:
    """Save into a scratch folder beside ``target`` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # a GGUF-loaded model carries transformers' GGUF "quantizer", which refuses
        # save_pretrained; the tensors are plain float32 by now, so save them directly
        from safetensors.torch import save_model

        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(staging)
        save_model(model, str(staging / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(staging)
        (staging / _COMPLETE).write_text("ok\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
