"""The step loop: forward, backward, clip, step; evaluation and checkpoints at their intervals.

Under torchrun every process runs this loop on its share of each global batch (see
lmlab.training.distributed); a lone process runs exactly the code path it always did.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lmlab.device import autocast
from lmlab.loss import training_loss
from lmlab.training.interrupt import deferred_interrupt
from lmlab.training.optim import set_lr
from lmlab.training.policy import (
    RunWriter,
    agree,
    count_tokens,
    evaluate_and_save,
    evaluation_due,
    keep_snapshot,
    report_loss_scale,
    save,
    stop_if_not_finite,
    write_train_losses,
)
from lmlab.training.progress import progress_bar
from lmlab.training.schedule import lr_at
from lmlab.training.session import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    step: int
    best_val_loss: float
    interrupted: bool


def fit(
    s: Session, writer: RunWriter, stop_after_step: int | None = None, progress: bool = True
) -> FitResult:
    """Train from s.state.step to train.max_steps (or `stop_after_step`, or a Ctrl-C, which save)."""
    cfg = s.config.train
    pin = s.device.type == "cuda"
    interrupted = False
    if s.state.step == 0:
        evaluate_and_save(s, writer, lr=lr_at(0, cfg))
        keep_snapshot(s, writer)
    bar = progress_bar(cfg.max_steps, s.state.step, progress)
    session_start = time.perf_counter() - s.state.elapsed_seconds
    window_start, window_tokens = time.perf_counter(), s.state.tokens_seen
    s.trained.train()
    with deferred_interrupt(s.dist) as interrupt_requested:
        while s.state.step < cfg.max_steps:
            lr = lr_at(s.state.step, cfg)
            set_lr(s.optimizer, lr, cfg)  # each group's peak lr x (lr / train.lr)
            micro_losses = []
            for micro in range(cfg.grad_accum_steps):
                index = s.state.step * cfg.grad_accum_steps + micro
                batch = s.data.train_batch(index, s.batch_generator, s.dist.rank, s.dist.world_size)
                batch = batch.to(s.device, non_blocking=pin)
                with _gradient_sync(s.trained, micro == cfg.grad_accum_steps - 1):
                    with autocast(s.device, s.dtype):
                        logits = s.forward(batch.inputs, segments=batch.segments)  # (B, T, V)
                        loss = training_loss(logits, batch.targets, s.loss_average)
                    s.scaler.scale(loss / cfg.grad_accum_steps).backward()
                s.pending_tokens += batch.n_tokens
                micro_losses.append(loss.detach())
            # the loss of the batch this step trained on, left on the device (written at log steps)
            s.step_losses.append(torch.stack(micro_losses).float().mean())
            if cfg.grad_clip > 0 or s.grad_filter is not None:
                s.scaler.unscale_(s.optimizer)  # filter and clip the true gradients, not the scaled ones
            if s.grad_filter is not None:  # the complete (accumulated, averaged) gradients; then clip those
                s.grad_filter.apply(s.model, check_finite=s.scaler.is_enabled())
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
            # float16: a step whose gradients overflowed is skipped and the loss scale halves (no NaN stop)
            s.scaler.step(s.optimizer)
            s.scaler.update()
            s.optimizer.zero_grad(set_to_none=True)
            s.state.step += 1
            s.state.elapsed_seconds = time.perf_counter() - session_start
            bar.update(1)
            keep_snapshot(s, writer)
            at_end = s.state.step == cfg.max_steps
            stop = s.state.step == stop_after_step
            # torchrun's ranks agree on a Ctrl-C at log steps below: no collective on ordinary steps
            interrupted = interrupt_requested() and not s.dist.enabled
            if s.state.step % cfg.log_interval == 0 or at_end:
                count_tokens(s)
                write_train_losses(s, writer)  # one host sync for the steps since the last log step
                loss_value, interrupted = agree(s, loss, interrupt_requested())
                stop_if_not_finite(s, writer, loss_value)
                report_loss_scale(s)
                now = time.perf_counter()
                rate = (s.state.tokens_seen - window_tokens) / max(now - window_start, 1e-9)
                window_start, window_tokens = now, s.state.tokens_seen
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", tok_s=f"{rate:,.0f}", refresh=False)
            if evaluation_due(s) or at_end:
                evaluate_and_save(s, writer, lr=lr)
                # tokens/s counts training only
                window_start, window_tokens = time.perf_counter(), s.state.tokens_seen
            elif interrupted or stop:
                stop_if_not_finite(s, writer, agree(s, loss, interrupted)[0])
                save(s, writer, best=False)
            if interrupted or stop:
                if interrupted and s.dist.is_main:
                    log.warning("interrupted: saved step %d to %s", s.state.step, writer.path / "checkpoints")
                break
    bar.close()
    return FitResult(s.state.step, s.state.best_val_loss, interrupted)


def _gradient_sync(trained: nn.Module, sync: bool) -> AbstractContextManager:
    """DDP averages gradients over the ranks in backward: once a step, on its last micro-batch."""
    if sync or not isinstance(trained, DistributedDataParallel):
        return nullcontext()
    return trained.no_sync()
