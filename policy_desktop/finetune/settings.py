"""Training settings and the events a training child reports (plain data, no torch)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any

from policy_desktop.vocabulary import canonical_json


@dataclass(frozen=True)
class TrainSettings:
    """How a LoRA adapter is trained.

    Attributes:
        rank, alpha, dropout: LoRA shape (llama.cpp scales by ``alpha / rank``).
        learning_rate: AdamW learning rate (linear warm-up over the first 10 % of steps).
        epochs: passes over the training split (an upper bound: early stopping may end it).
        batch_size: examples per optimizer step.
        max_steps: stop after this many steps (``None``: ``epochs`` decide).
        eval_every: validate every N steps (``None``: at the end of each epoch).
        patience: stop after this many validations without a better validation loss.
        validation_fraction: share of each decision held out for validation.
        seed: shuffling, split and initialisation seed.
        threads: torch threads (``None``: all cores).
        max_length: longest example in tokens (longer prompts are cut from the left).
        decision_weight: weight of the decision's tokens in the answer loss (the reasoning
            that follows is easy to learn and would otherwise swamp the one choice that
            matters).
        decision_only: train on the decision alone (its tokens and closing quote), not on
            the rest of the answer: a step costs far less (the 262k-word output layer runs
            for a few positions, the sequences are shorter), and the decision is what the
            adapter is for; the tuned model's reasoning is then the base model's.
        lora_layers: adapt only the last N decoder layers (``None``: all): the backward
            pass stops below them.
    """

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    learning_rate: float = 1e-3
    epochs: int = 3
    batch_size: int = 4
    max_steps: int | None = None
    eval_every: int | None = None
    patience: int = 2
    validation_fraction: float = 0.2
    seed: int = 0
    threads: int | None = None
    max_length: int = 512
    decision_weight: float = 5.0
    decision_only: bool = True
    lora_layers: int | None = None

    def __post_init__(self) -> None:
        for name in ("rank", "epochs", "batch_size", "patience", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.decision_weight <= 0:
            raise ValueError("decision_weight must be positive")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.lora_layers is not None and self.lora_layers < 1:
            raise ValueError("lora_layers must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError("eval_every must be at least 1")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (for ``model.json`` and the checkpoint check)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        """Settings from :meth:`to_dict` output (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def fingerprint(self) -> str:
        """Hash of what changes the result (threads do not)."""
        values = {k: v for k, v in self.to_dict().items() if k != "threads"}
        return hashlib.sha256(canonical_json(values).encode()).hexdigest()


@dataclass(frozen=True)
class Progress:
    """One optimizer step done."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    seconds_left: float | None


@dataclass(frozen=True)
class Validation:
    """A validation pass: loss on the answers and decision accuracy."""

    step: int
    loss: float
    accuracy: float
    improved: bool


@dataclass(frozen=True)
class Status:
    """A stage of the work (loading, converting, writing), for the status line."""

    text: str


Event = Progress | Validation | Status
