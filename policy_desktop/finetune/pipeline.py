"""From a training set to a registered model: job set-up, the training child, registration."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy_desktop import __version__
from policy_desktop.engine.gguf import read_model_info
from policy_desktop.finetune.dataset import TrainingSet
from policy_desktop.finetune.registry import ModelRegistry, RegisteredModel
from policy_desktop.finetune.settings import Event, TrainSettings
from policy_desktop.finetune.training import TrainJob, TrainOutcome
from policy_desktop.paths import cache_dir


class NotEnoughData(ValueError):
    """Too few examples to train and validate on."""


@dataclass(frozen=True)
class FinetuneRequest:
    """What to train: the data, the base GGUF, the settings and the new model's name."""

    data: TrainingSet
    base_model: Path
    name: str
    settings: TrainSettings = field(default_factory=TrainSettings)
    overwrite: bool = False


def prepare_job(request: FinetuneRequest, base_sha256: str) -> TrainJob:
    """Split the data and place the work folder (the same request finds its checkpoint)."""
    train, validation = request.data.split(request.settings.validation_fraction,
                                           request.settings.seed)
    if len(train) < 1:
        raise NotEnoughData("no training examples left after the validation split")
    info = read_model_info(request.base_model)
    job = TrainJob(base_model=request.base_model, base_sha256=base_sha256,
                   architecture=info.architecture, train=train, validation=validation,
                   settings=request.settings, work_dir=Path("."), name=request.name)
    folder = cache_dir() / "finetune" / "runs" / hashlib.sha256(job.key().encode()).hexdigest()[:20]
    return replace(job, work_dir=folder)


def validation_split(request: FinetuneRequest) -> TrainingSet:
    """The reviewed decisions the request holds out of training (as :func:`prepare_job`)."""
    return request.data.split(request.settings.validation_fraction, request.settings.seed)[1]


def model_record(request: FinetuneRequest, job: TrainJob, outcome: TrainOutcome
                 ) -> dict[str, Any]:
    """``model.json`` content (the registry adds the adapter's hash and the log names)."""
    info = read_model_info(request.base_model)
    data = request.data
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "program": {"name": "policy-desktop", "version": __version__},
        "base_model": {"path": str(request.base_model.resolve()), "sha256": job.base_sha256,
                       "name": info.name, "quantization": info.quantization,
                       "architecture": info.architecture},
        "adapter": {"format": "gguf-lora", "rank": job.settings.rank,
                    "alpha": job.settings.alpha},
        "prompt_version": data.prompt_version,
        "training_data": {
            "sha256": data.sha256, "examples": len(data), "train": len(job.train),
            "validation": len(job.validation), "train_sha256": job.train.sha256,
            "validation_sha256": job.validation.sha256,
            "per_decision": data.per_decision(),
            "validation_ids": [e.decision_id for e in job.validation.examples],
            "export_manifest": data.export_manifest,
        },
        "settings": job.settings.to_dict(),
        "result": outcome.to_dict(),
        "provenance": data.provenance(),
    }


def finetune(request: FinetuneRequest, on_event: Callable[[Event], None],
             should_cancel: Callable[[], bool] | None = None,
             registry: ModelRegistry | None = None,
             ) -> tuple[TrainOutcome, RegisteredModel | None]:
    """Train in a child process and register the result (not when cancelled).

    A cancelled run keeps its checkpoint: the same request later resumes it.
    """
    from policy_desktop.finetune.base_model import file_sha256
    from policy_desktop.finetune.process import run_training

    registry = registry or ModelRegistry()
    registry.check_new_name(request.name, overwrite=request.overwrite)
    job = prepare_job(request, file_sha256(request.base_model))
    outcome = run_training(job, on_event, should_cancel)
    if outcome.status == "cancelled" or outcome.adapter_path is None:
        return outcome, None
    model = registry.register(request.name, outcome.adapter_path,
                              model_record(request, job, outcome), overwrite=request.overwrite)
    return outcome, model
