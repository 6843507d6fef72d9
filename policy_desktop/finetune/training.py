"""The LoRA training loop (runs in a child process: imports torch, transformers, peft).

:func:`train` trains on a :class:`TrainJob`, reporting :mod:`.settings` events through
``emit``; it validates before training, then every ``eval_every`` steps (or each epoch),
keeps the adapter of the best validation loss, stops early after ``patience`` validations
without improvement, and writes that adapter as a GGUF llama.cpp loads. Every validation
(and a cancel) saves a checkpoint in ``job.work_dir``; a job with the same data and
settings continues from it.

Two things keep a CPU step cheap: the 262k-word output layer is applied only where an
answer token is predicted (not at every prompt position), and validation accuracy scores
the four decisions from one forward pass per example (:class:`~.encoding.LabelPaths`),
choosing as the engine's skeleton decoder does (greedy along the labels' tokens).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_desktop.finetune.dataset import TrainingSet
from policy_desktop.finetune.encoding import Encoded, Encoder, LabelPaths
from policy_desktop.finetune.settings import Event, Progress, Status, TrainSettings, Validation
from policy_desktop.vocabulary import DECISIONS

CHECKPOINT_FILE = "checkpoint.pt"
ADAPTER_FILE = "adapter.gguf"

EmitFn = Callable[[Event], None]
StopFn = Callable[[], bool]


@dataclass(frozen=True)
class TrainJob:
    """Everything a training child needs (picklable)."""

    base_model: Path
    base_sha256: str
    architecture: str
    train: TrainingSet
    validation: TrainingSet
    settings: TrainSettings
    work_dir: Path
    name: str = "adapter"

    @property
    def adapter_path(self) -> Path:
        """Where the GGUF adapter is written."""
        return self.work_dir / ADAPTER_FILE

    def key(self) -> str:
        """What a checkpoint must match to be resumed."""
        return f"{self.base_sha256}:{self.train.sha256}:{self.validation.sha256}:" \
               f"{self.settings.fingerprint()}"


@dataclass(frozen=True)
class Score:
    """Validation figures: answer loss, decision accuracy, accuracy per expected decision."""

    loss: float
    accuracy: float
    per_decision: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"loss": self.loss, "accuracy": self.accuracy, "per_decision": self.per_decision}


@dataclass(frozen=True)
class TrainOutcome:
    """How a training ended."""

    status: str  # "finished", "stopped_early" or "cancelled"
    adapter_path: Path | None
    steps: int
    total_steps: int
    best_step: int
    before: Score | None
    after: Score | None
    train_seconds: float
    peak_rss_mb: float
    history: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``model.json``)."""
        return {
            "status": self.status, "steps": self.steps, "total_steps": self.total_steps,
            "best_step": self.best_step, "train_seconds": round(self.train_seconds, 1),
            "peak_rss_mb": round(self.peak_rss_mb), "history": self.history,
            "validation_before": self.before.to_dict() if self.before else None,
            "validation_after": self.after.to_dict() if self.after else None,
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Batches:
    """Tensors for a list of encoded examples and the answer-token losses of a model."""

    def __init__(self, model: Any, pad_id: int) -> None:
        self.model = model
        self.pad_id = pad_id
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.head = base.get_output_embeddings()
        self.softcap = getattr(base.config, "final_logit_softcapping", None)

    def hidden(self, sequences: Sequence[Sequence[int]]) -> Any:
        """Last hidden states for right-padded ``sequences``."""
        import torch

        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        return self.decoder(input_ids=ids, attention_mask=mask).last_hidden_state

    def logits(self, states: Any) -> Any:
        """Output-layer logits for selected hidden states (Gemma's soft-capping applied)."""
        import torch

        logits = self.head(states).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def answer_loss(self, items: Sequence[Encoded], decision_weight: float = 1.0) -> Any:
        """Cross-entropy of the answer tokens given the prompt and earlier answer tokens,
        averaged with the decision's tokens counting ``decision_weight`` times."""
        import torch

        sequences = [list(i.prompt) + list(i.answer) for i in items]
        hidden = self.hidden(sequences)
        rows, cols, targets, weights = [], [], [], []
        for row, item in enumerate(items):
            start = len(item.prompt)
            for offset, token in enumerate(item.answer):
                rows.append(row)
                cols.append(start + offset - 1)
                targets.append(token)
                weights.append(decision_weight if offset < item.label_tokens else 1.0)
        states = hidden[torch.tensor(rows), torch.tensor(cols)]
        losses = torch.nn.functional.cross_entropy(self.logits(states), torch.tensor(targets),
                                                   reduction="none")
        weight = torch.tensor(weights)
        return (losses * weight).sum() / weight.sum()

    def label_scores(self, items: Sequence[Encoded], paths: LabelPaths
                     ) -> list[tuple[dict[str, float], str]]:
        """Each example's log-probability of every decision (summed over the tokens that
        tell it apart) and the decision the engine would pick (:meth:`LabelPaths.choose`),
        from one forward pass per example and feed."""
        import torch

        sequences = [list(i.prompt) + list(feed) for i in items for feed in paths.feeds]
        hidden = self.hidden(sequences)
        results = []
        for index, item in enumerate(items):
            base_row = index * len(paths.feeds)
            logp: dict[int, Any] = {}

            def row_logp(row: int, item: Encoded = item, logp: dict[int, Any] = logp) -> Any:
                if row not in logp:
                    depth = max(len(f) for f in paths.feeds) + 1
                    cols = [len(item.prompt) - 1 + j for j in range(depth)]
                    logp[row] = torch.log_softmax(self.logits(hidden[row, cols]), dim=-1)
                return logp[row]

            scores = {}
            for label, tokens in paths.tokens.items():
                table = row_logp(base_row + paths.feed_for(label))
                scores[label] = float(sum(table[j, tokens[j]] for j in range(paths.depth[label])))

            def at(label: str, j: int, base: int = base_row) -> Any:
                table = row_logp(base + paths.feed_for(label))
                return lambda token: float(table[j, token])

            results.append((scores, paths.choose(at)))
        return results


def evaluate(batches: Batches, items: Sequence[Encoded], paths: LabelPaths,
             batch_size: int, decision_weight: float = 1.0, *,
             decision_loss: bool = False) -> Score | None:
    """Validation loss (weighted as in training) and decision accuracy (``None`` without
    validation examples).

    With ``decision_loss`` the loss is the negative log-probability of the expected
    decision's distinguishing tokens, read from the forward pass that scores the labels
    (one pass per example instead of two; used when only the decision is trained).
    """
    import torch

    if not items:
        return None
    was_training = batches.model.training
    batches.model.eval()
    total_loss, right = 0.0, 0
    per: dict[str, list[int]] = {label: [] for label in DECISIONS}
    try:
        with torch.no_grad():
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                if not decision_loss:
                    loss = batches.answer_loss(chunk, decision_weight)
                    total_loss += float(loss.detach()) * len(chunk)
                for item, (scores, chosen) in zip(chunk, batches.label_scores(chunk, paths),
                                                  strict=True):
                    if decision_loss:
                        total_loss -= scores[item.decision]
                    hit = int(chosen == item.decision)
                    right += hit
                    per[item.decision].append(hit)
    finally:
        batches.model.train(was_training)
    return Score(loss=total_loss / len(items), accuracy=right / len(items),
                 per_decision={k: (sum(v) / len(v) if v else None) for k, v in per.items()})


def learning_rate(settings: TrainSettings, step: int, total: int) -> float:
    """Linear warm-up over the first 10 % of steps, then linear decay to a tenth."""
    warmup = max(1, total // 10)
    if step <= warmup:
        return settings.learning_rate * step / warmup
    remaining = (total - step) / max(1, total - warmup)
    return settings.learning_rate * (0.1 + 0.9 * remaining)


def train(job: TrainJob, emit: EmitFn, should_stop: StopFn) -> TrainOutcome:
    """Train the adapter of ``job``; see the module docstring."""
    import torch

    from policy_desktop.finetune.adapter import apply_lora, load_lora_state, lora_state
    from policy_desktop.finetune.base_model import load_base_model
    from policy_desktop.finetune.lora_gguf import write_lora_gguf

    settings = job.settings
    started = time.monotonic()
    torch.manual_seed(settings.seed)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    model, tokenizer = load_base_model(job.base_model, sha256=job.base_sha256,
                                       on_status=lambda text: emit(Status(text)))
    model.config.use_cache = False
    peft_model = apply_lora(model, rank=settings.rank, alpha=settings.alpha,
                            dropout=settings.dropout, last_layers=settings.lora_layers)
    encoder = Encoder(tokenizer, job.train.system, settings.max_length,
                      decision_only=settings.decision_only)
    train_items = [encoder.encode(e) for e in job.train.examples]
    val_items = [encoder.encode(e) for e in job.validation.examples]
    paths = LabelPaths.of(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = Batches(peft_model, pad)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)

    per_epoch = max(1, math.ceil(len(train_items) / settings.batch_size))
    total = settings.epochs * per_epoch
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    eval_every = settings.eval_every or per_epoch

    job.work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = job.work_dir / CHECKPOINT_FILE
    state = _load_checkpoint(checkpoint_path, job.key())
    if state is not None:
        load_lora_state(peft_model, state["lora"])
        optimizer.load_state_dict(state["optimizer"])
        emit(Status(f"Resuming from step {state['step']} of {total}"))
    else:
        emit(Status("Validating the base model…"))
        before = evaluate(batches, val_items, paths, settings.batch_size,
                          settings.decision_weight, decision_loss=settings.decision_only)
        state = {"key": job.key(), "step": 0, "before": before, "best": before,
                 "best_step": 0, "best_lora": lora_state(peft_model), "stale": 0,
                 "history": []}
        if before is not None:
            emit(Validation(step=0, loss=before.loss, accuracy=before.accuracy, improved=True))

    def save() -> None:
        state["lora"] = lora_state(peft_model)
        state["optimizer"] = optimizer.state_dict()
        partial = checkpoint_path.with_name(CHECKPOINT_FILE + ".partial")
        torch.save(state, partial)
        partial.replace(checkpoint_path)

    status = "finished"
    peft_model.train()
    step_times: list[float] = []
    step = state["step"]
    while step < total:
        if should_stop():
            save()
            return _outcome(job, state, "cancelled", None, total, started)
        step += 1
        tick = time.monotonic()
        epoch, position = divmod(step - 1, per_epoch)
        order = torch.randperm(len(train_items),
                               generator=torch.Generator().manual_seed(settings.seed + epoch))
        chosen = order[position * settings.batch_size:(position + 1) * settings.batch_size]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, step, total)
        loss = batches.answer_loss([train_items[i] for i in chosen.tolist()],
                                   settings.decision_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        state["step"] = step
        step_times.append(time.monotonic() - tick)
        recent = step_times[-10:]
        emit(Progress(step=step, total_steps=total, epoch=epoch + 1, loss=loss_value,
                      seconds_left=sum(recent) / len(recent) * (total - step)))
        if step % eval_every == 0 or step == total:
            score = evaluate(batches, val_items, paths, settings.batch_size,
                             settings.decision_weight, decision_loss=settings.decision_only)
            improved = _record(state, step, loss_value, score, peft_model)
            if score is not None:
                emit(Validation(step=step, loss=score.loss, accuracy=score.accuracy,
                                improved=improved))
            save()
            if state["stale"] >= settings.patience and step < total:
                status = "stopped_early"
                break
    if val_items:
        load_lora_state(peft_model, state["best_lora"])
    else:
        state["best_step"] = step
    emit(Status("Writing the adapter for llama.cpp…"))
    adapter = write_lora_gguf(job.adapter_path, lora_state(peft_model), alpha=settings.alpha,
                              architecture=job.architecture, name=job.name)
    state["lora"] = lora_state(peft_model)
    return _outcome(job, state, status, adapter, total, started)


def _record(state: dict[str, Any], step: int, loss: float, score: Score | None,
            peft_model: Any) -> bool:
    """Note a validation; keep the adapter when it is the best so far."""
    from policy_desktop.finetune.adapter import lora_state

    entry: dict[str, Any] = {"step": step, "train_loss": round(loss, 4)}
    improved = False
    if score is not None:
        entry.update(validation_loss=round(score.loss, 4), validation_accuracy=score.accuracy)
        best = state["best"]
        improved = best is None or score.loss < best.loss - 1e-4
        if improved:
            state.update(best=score, best_step=step, best_lora=lora_state(peft_model), stale=0)
        else:
            state["stale"] += 1
    state["history"].append(entry)
    return improved


def _load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=False)
    except Exception:  # a torn or foreign file: start over rather than fail
        return None
    return state if isinstance(state, dict) and state.get("key") == key else None


def _outcome(job: TrainJob, state: dict[str, Any], status: str, adapter: Path | None,
             total: int, started: float) -> TrainOutcome:
    return TrainOutcome(
        status=status, adapter_path=adapter, steps=state["step"], total_steps=total,
        best_step=state["best_step"], before=state["before"], after=state["best"],
        train_seconds=time.monotonic() - started, peak_rss_mb=peak_rss_mb(),
        history=list(state["history"]))
