"""When the loop evaluates, records and saves, and what it hands the writer of the run.

The loop never touches files: it calls a `RunWriter` (lmlab.runs.writer writes the run directory).
Under torchrun every rank calls these functions, for the collectives; rank 0 alone writes.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lmlab.errors import LmlabError
from lmlab.evaluation.training_scores import parameter_norm, training_scores
from lmlab.training.distributed import all_sum, broadcast_object, gather_objects
from lmlab.training.epochs import ends_epochs, epoch_at
from lmlab.training.session import Session
from lmlab.training.state import TrainingState, encode_rng, rank_key

log = logging.getLogger(__name__)


class RunWriter(Protocol):
    """Where a session's records and checkpoints go."""

    path: Path  # named in messages: `--resume PATH`

    def append_metrics(self, record: dict[str, Any]) -> None: ...

    def append_train_losses(self, records: list[dict[str, Any]]) -> None:
        """Append {"step", "loss"} records: the loss of the batch each step trained on."""
        ...

    def save(
        self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainingState
    ) -> Path:
        """Write checkpoint `name` (last, best, step-N) atomically; return where it is."""
        ...


def evaluate_and_save(s: Session, writer: RunWriter, lr: float) -> None:
    """Score the model, record the scores, save `last` (and `best` when the val loss improved)."""
    start = time.perf_counter()
    count_tokens(s)
    # rank 0 evaluates the bare model (DDP's forward would wait for the others); they wait here
    scores = broadcast_object(s.dist, _scores(s) if s.dist.is_main else None)
    stop_if_not_finite(s, writer, scores["train_loss"])
    if s.dist.is_main:
        _record(s, writer, scores, lr)
    is_best = scores["val_loss"] < s.state.best_val_loss
    if is_best:
        s.state.best_val_loss = scores["val_loss"]
    save(s, writer, best=is_best)
    if s.state.step > 0:  # the step-0 evaluation runs before the clock starts
        s.state.eval_seconds += time.perf_counter() - start


def save(s: Session, writer: RunWriter, best: bool) -> None:
    """Rank 0 writes the checkpoint; every rank calls this, to hand it its RNG states and tokens."""
    write_train_losses(s, writer)  # first: a resume from this checkpoint keeps every step's loss
    count_tokens(s)
    states = {"torch": encode_rng(torch.get_rng_state())}
    if s.device.type == "cuda":
        states["cuda"] = encode_rng(torch.cuda.get_rng_state())
    every_rank = gather_objects(s.dist, states)
    if not s.dist.is_main:
        return
    s.state.rng = {"batches": encode_rng(s.batch_generator.get_state())}
    s.state.grad_scaler = s.scaler.state_dict()  # {} when the scaler is off
    s.state.grad_filter = s.grad_filter.state_dict() if s.grad_filter is not None else {}
    for rank, rank_states in enumerate(every_rank):
        s.state.rng.update({rank_key(name, rank): state for name, state in rank_states.items()})
    writer.save("last", s.model, s.optimizer, s.state)
    if best:
        writer.save("best", s.model, s.optimizer, s.state)
    s.state.grad_filter = {}  # the filter's live tensors: held only while saving


def evaluation_due(s: Session) -> bool:
    """Whether this step evaluates: every train.eval_interval steps, or train.eval_interval_epochs epochs."""
    return _due(s, s.config.train.eval_interval, s.config.train.eval_interval_epochs)


def keep_snapshot(s: Session, writer: RunWriter) -> None:
    """Weights only, every train.snapshot_interval steps or train.snapshot_interval_epochs epochs (and at
    step 0), for looking back in time."""
    if _due(s, s.config.train.snapshot_interval, s.config.train.snapshot_interval_epochs):
        count_tokens(s)
        if s.dist.is_main:
            writer.save(f"step-{s.state.step}", s.model, None, s.state)


def _due(s: Session, every_steps: int, every_epochs: int) -> bool:
    """Every `every_epochs` epochs when given (on the step that completes them), else every `every_steps`
    steps (0: never)."""
    if every_epochs:
        return ends_epochs(s.state.step, every_epochs, s.data.epoch_size, s.sequences_per_step)
    return bool(every_steps) and s.state.step % every_steps == 0


def write_train_losses(s: Session, writer: RunWriter) -> list[float]:
    """Hand the writer the training loss of every step since the last call (the ranks' mean under
    torchrun, a collective); returns them. One host sync for all of them."""
    if not s.step_losses:
        return []
    local = torch.stack(s.step_losses).tolist()
    first = s.state.step - len(local) + 1
    s.step_losses.clear()
    losses = [total / s.dist.world_size for total in all_sum(s.dist, local, s.device)]
    if s.dist.is_main:
        writer.append_train_losses([{"step": first + i, "loss": loss} for i, loss in enumerate(losses)])
    return losses


def count_tokens(s: Session) -> None:
    """Add every rank's tokens since the last count to state.tokens_seen (a collective under torchrun)."""
    (tokens,) = all_sum(s.dist, [float(s.pending_tokens)], s.device)
    s.state.tokens_seen += int(tokens)
    s.pending_tokens = 0


def agree(s: Session, loss: torch.Tensor, interrupt: bool) -> tuple[float, bool]:
    """The ranks' mean loss on their last micro-batch, and whether any rank got a Ctrl-C."""
    loss_sum, votes = all_sum(s.dist, [loss.item(), float(interrupt)], s.device)
    return loss_sum / s.dist.world_size, votes > 0


def stop_if_not_finite(s: Session, writer: RunWriter, loss_value: float) -> None:
    if math.isfinite(loss_value):
        return
    raise LmlabError(
        f"loss became {loss_value} at step {s.state.step}; training stopped and the last good checkpoint "
        f"is kept in {writer.path / 'checkpoints' / 'last'}; lower train.lr or set train.grad_clip, "
        f"then --resume {writer.path}"
    )


def report_loss_scale(s: Session) -> None:
    """float16: say when the loss scale fell since the last log step, i.e. steps were skipped because
    their gradients overflowed (reading the scale syncs the host, so only at log steps)."""
    if not s.scaler.is_enabled():
        return
    scale = s.scaler.get_scale()
    if scale < s.last_loss_scale and s.dist.is_main:
        log.info(
            "step %d: float16 gradients overflowed since the last log step; those steps were skipped "
            "and the loss scale fell to %g",
            s.state.step,
            scale,
        )
    s.last_loss_scale = scale


def _record(s: Session, writer: RunWriter, scores: dict[str, float], lr: float) -> None:
    """Append the evaluation to the metrics and log it."""
    epoch_size = s.data.epoch_size
    record = {
        "step": s.state.step,
        "tokens": s.state.tokens_seen,
        **({"epoch": epoch_at(s.state.step, epoch_size, s.sequences_per_step)} if epoch_size else {}),
        **scores,
        "param_norm": round(parameter_norm(s.model), 4),
        "lr": lr,
        "time": round(s.state.elapsed_seconds, 3),
        "train_time": round(s.state.elapsed_seconds - s.state.eval_seconds, 3),
        **({"loss_scale": s.scaler.get_scale()} if s.scaler.is_enabled() else {}),
    }
    writer.append_metrics(record)
    accuracy = f", val acc {scores['val_acc']:.4f}" if "val_acc" in scores else ""
    log.info(
        "step %d: train loss %.4f, val loss %.4f%s",
        s.state.step,
        scores["train_loss"],
        scores["val_loss"],
        accuracy,
    )


def _scores(s: Session) -> dict[str, float]:
    return training_scores(s.model, s.data, s.config.train, s.state.step, s.device, s.dtype)
