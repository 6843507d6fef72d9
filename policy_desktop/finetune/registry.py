"""Registered fine-tuned model versions: ``$XDG_DATA_HOME/policy-desktop/models/<name>/``.

Each folder holds ``model.json`` and ``adapter.gguf``. ``model.json`` names the base model
(path and sha256), the adapter (sha256, rank, alpha), the training data (sha256, counts,
the export's manifest), the settings, the validation results, and the provenance — every
decision trained on with its reviewer — so an auditor can trace a logged decision of the
tuned model back to the corrections that shaped it. :func:`resolve_model` gives what the
engine needs to run a registered model and the strings to log with its decisions.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_desktop.atomic_files import replace_folder, staging_folder
from policy_desktop.paths import data_dir

MODEL_FILE = "model.json"
ADAPTER_FILE = "adapter.gguf"
RECORD_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ModelRegistryError(ValueError):
    """A model name is invalid, taken, unknown, or its files do not match their record."""


def models_dir() -> Path:
    """Where registered models live (``$XDG_DATA_HOME/policy-desktop/models``)."""
    return data_dir() / "models"


@dataclass(frozen=True)
class ModelChoice:
    """What the engine loads for a registered model and what every decision logs.

    ``base_model`` goes to ``EngineSettings.model_path``, ``lora_path`` to
    ``EngineSettings.lora_path``; ``model_name``/``model_version`` are logged with each
    decision; ``prompt_version`` is the prompt the model was trained with.
    """

    name: str
    base_model: Path
    lora_path: Path
    model_name: str
    model_version: str
    prompt_version: str


@dataclass(frozen=True)
class RegisteredModel:
    """One model version: its folder and ``model.json``."""

    name: str
    folder: Path
    record: dict[str, Any]

    @property
    def adapter_path(self) -> Path:
        """The GGUF LoRA adapter."""
        return self.folder / self.record["adapter"]["file"]

    @property
    def base_model_path(self) -> Path:
        """The base GGUF the adapter was trained on."""
        return Path(self.record["base_model"]["path"])

    def choice(self) -> ModelChoice:
        """The :class:`ModelChoice` of this model (no checks; see :func:`resolve_model`)."""
        log_as = self.record["log_as"]
        return ModelChoice(name=self.name, base_model=self.base_model_path,
                           lora_path=self.adapter_path, model_name=log_as["model_name"],
                           model_version=log_as["model_version"],
                           prompt_version=self.record["prompt_version"])


def log_names(base_name: str, base_quantization: str, name: str,
              adapter_sha256: str) -> dict[str, str]:
    """The ``model_name``/``model_version`` a tuned model's decisions are logged with."""
    return {"model_name": f"{base_name} + {name}",
            "model_version": f"{base_quantization} lora:{adapter_sha256[:12]}"}


class ModelRegistry:
    """The registered models under one folder (default :func:`models_dir`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = models_dir() if root is None else Path(root)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if _NAME_RE.fullmatch(p.name) and (p / MODEL_FILE).is_file())

    def models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> RegisteredModel:
        """The model called ``name``; :class:`ModelRegistryError` lists the known ones."""
        folder = self.root / name
        if not _NAME_RE.fullmatch(name) or not (folder / MODEL_FILE).is_file():
            known = ", ".join(self.names()) or "none"
            raise ModelRegistryError(f"no fine-tuned model {name!r}; registered: {known}")
        try:
            record = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelRegistryError(f"{folder / MODEL_FILE}: cannot be read ({exc})") from None
        return RegisteredModel(name=name, folder=folder, record=record)

    def check_new_name(self, name: str, *, overwrite: bool = False) -> None:
        """Raise :class:`ModelRegistryError` unless ``name`` can be registered."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ModelRegistryError(
                f"invalid model name {name!r}: up to 64 letters, digits, '_', '.', '-', "
                "starting with a letter or digit")
        if (self.root / name).exists() and not overwrite:
            raise ModelRegistryError(f"a fine-tuned model {name!r} already exists in "
                                     f"{self.root}; choose another name or replace it")

    def register(self, name: str, adapter_file: Path, record: dict[str, Any], *,
                 overwrite: bool = False) -> RegisteredModel:
        """Copy the adapter and write ``model.json`` into a new folder, atomically.

        ``record`` gets the adapter's file name, size and sha256 filled in.
        """
        from policy_desktop.finetune.base_model import file_sha256

        self.check_new_name(name, overwrite=overwrite)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = staging_folder(self.root / name, suffix=".tmp")
        try:
            shutil.copyfile(adapter_file, staging / ADAPTER_FILE)
            full = {**record, "name": name, "record_version": RECORD_VERSION}
            full["adapter"] = {**record.get("adapter", {}), "file": ADAPTER_FILE,
                               "bytes": (staging / ADAPTER_FILE).stat().st_size,
                               "sha256": file_sha256(staging / ADAPTER_FILE)}
            base = full["base_model"]
            full["log_as"] = log_names(base.get("name") or "model",
                                       base.get("quantization") or "", name,
                                       full["adapter"]["sha256"])
            (staging / MODEL_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False)
                                              + "\n", encoding="utf-8")
            replace_folder(staging, self.root / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(name)


def resolve_model(name: str, *, registry: ModelRegistry | None = None,
                  verify: bool = True) -> ModelChoice:
    """The engine inputs and log strings of a registered model.

    With ``verify`` the adapter's and the base model's sha256 are checked against
    ``model.json`` (about a second for the bundled model), so a decision is never logged
    under a version whose files changed.

    Raises:
        ModelRegistryError: unknown name, a file missing, or a checksum mismatch.
    """
    from policy_desktop.finetune.base_model import file_sha256

    model = (registry or ModelRegistry()).get(name)
    choice = model.choice()
    expected = {choice.lora_path: model.record["adapter"]["sha256"],
                choice.base_model: model.record["base_model"]["sha256"]}
    for path, sha in expected.items():
        if not path.is_file():
            raise ModelRegistryError(f"fine-tuned model {name!r}: {path} is missing")
        if verify and file_sha256(path) != sha:
            raise ModelRegistryError(f"fine-tuned model {name!r}: {path} has changed since "
                                     "training (sha256 differs)")
    return choice
