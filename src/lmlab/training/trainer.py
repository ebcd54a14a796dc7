"""The training loop: setup -> fit, with evaluation, checkpoints, resume, Ctrl-C and NaN handling."""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from lmlab.config import RunConfig
from lmlab.data.batches import BatchSource, PairBatches, make_batches
from lmlab.errors import LmlabError
from lmlab.evaluation.loss import estimate_loss, evaluate_pairs, segment_arguments
from lmlab.models import build_model
from lmlab.models.loss import sequence_loss_and_accuracy
from lmlab.tokenizers import save_tokenizer
from lmlab.training.checkpoint import (
    TrainingState,
    decode_rng,
    encode_rng,
    load_training_state,
    load_weights,
    save_checkpoint,
)
from lmlab.training.compile import maybe_compile
from lmlab.training.device import autocast, resolve_device, resolve_dtype
from lmlab.training.optim import make_optimizer
from lmlab.training.run_dir import RunDir, write_atomic
from lmlab.training.schedule import lr_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run: RunDir
    step: int
    best_val_loss: float
    interrupted: bool


@dataclass
class _Session:
    """Everything the loop touches, built by `_setup`."""

    config: RunConfig
    run: RunDir
    data: BatchSource
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    dtype: torch.dtype
    batch_generator: torch.Generator
    state: TrainingState


def train(
    config: RunConfig,
    run_path: Path,
    data_dir: Path | None = None,
    resume: bool = False,
    stop_after_step: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `config` into `run_path` (or continue the run there when `resume`).

    `stop_after_step` ends the session early after that many optimizer steps, saving a checkpoint
    that `resume=True` continues from, as Ctrl-C does.
    """
    session = _setup(config, run_path, data_dir, resume)
    return _fit(session, stop_after_step, progress)


def _setup(config: RunConfig, run_path: Path, data_dir: Path | None, resume: bool) -> _Session:
    run = RunDir(run_path)
    if not resume and (run.last_checkpoint.exists() or run.metrics_file.exists()):
        raise LmlabError(
            f"{run_path} already holds a run; continue it with --resume {run_path} or pick another --out"
        )
    data = make_batches(config, data_dir, run.tokenizer() if resume else None)
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, vocab_size=data.tokenizer.vocab_size)
    )
    if isinstance(data, PairBatches) and config.data.source == "auto":
        # record what "auto" found, so eval scores the test split this run was trained against
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=data.task.source))
    for line in data.describe():
        log.info("%s", line)
    run_path.mkdir(parents=True, exist_ok=True)
    write_atomic(run.config_file, config.to_json())  # on resume too: --set may have changed it
    if not resume:
        save_tokenizer(data.tokenizer, run.tokenizer_file)
    device = resolve_device(config.train.device)
    dtype = resolve_dtype(config.train.dtype, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(config.train.seed)  # initialisation and dropout
    model = build_model(config.model).to(device)
    optimizer = make_optimizer(model, config.train, device)
    batch_generator = torch.Generator().manual_seed(config.train.seed)  # data order
    state = TrainingState()
    if resume:
        load_weights(run.last_checkpoint, model)
        state = load_training_state(run.last_checkpoint, optimizer)
        torch.set_rng_state(decode_rng(state.rng["torch"]))
        batch_generator.set_state(decode_rng(state.rng["batches"]))
        if device.type == "cuda" and "cuda" in state.rng:
            torch.cuda.set_rng_state(decode_rng(state.rng["cuda"]))
        # a run resumed at step 0 evaluates step 0 again: drop the record it will write anew
        run.truncate_metrics(after_step=state.step if state.step > 0 else -1)
        log.info("resuming %s at step %d", run_path, state.step)
    return _Session(config, run, data, model, optimizer, device, dtype, batch_generator, state)


def _fit(s: _Session, stop_after_step: int | None, progress: bool) -> TrainResult:
    cfg, model_cfg = s.config.train, s.config.model
    forward = maybe_compile(s.model, cfg.compile)
    pin = s.device.type == "cuda"
    use_segments = model_cfg.segment_embeddings
    per_sequence = cfg.loss_average == "sequence" and isinstance(s.data, PairBatches)
    interrupted = False
    if s.state.step == 0:
        _evaluate_and_save(s, lr=lr_at(0, cfg))
        _keep_snapshot(s)
    bar = tqdm(
        total=cfg.max_steps, initial=s.state.step, disable=not progress, unit="step", dynamic_ncols=True
    )
    session_start = time.perf_counter() - s.state.elapsed_seconds
    window_start, window_tokens = time.perf_counter(), 0
    s.model.train()
    with _deferred_interrupt() as interrupt_requested:
        while s.state.step < cfg.max_steps:
            lr = lr_at(s.state.step, cfg)
            for group in s.optimizer.param_groups:
                group["lr"] = lr
            for micro in range(cfg.grad_accum_steps):
                batch = s.data.train_batch(s.state.step * cfg.grad_accum_steps + micro, s.batch_generator)
                if pin:
                    batch = dataclasses.replace(
                        batch,
                        inputs=batch.inputs.pin_memory(),
                        targets=batch.targets.pin_memory(),
                        segments=batch.segments.pin_memory() if batch.segments is not None else None,
                    )
                x = batch.inputs.to(s.device, non_blocking=pin)
                y = batch.targets.to(s.device, non_blocking=pin)
                segments = segment_arguments(batch, s.device, use_segments, non_blocking=pin)
                with autocast(s.device, s.dtype):
                    if per_sequence:
                        logits, _ = forward(x, **segments)
                        loss, _ = sequence_loss_and_accuracy(logits, y)
                    else:
                        _, loss = forward(x, y, **segments)
                (loss / cfg.grad_accum_steps).backward()
                s.state.tokens_seen += batch.n_tokens
                window_tokens += batch.n_tokens
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
            s.optimizer.step()
            s.optimizer.zero_grad(set_to_none=True)
            s.state.step += 1
            s.state.elapsed_seconds = time.perf_counter() - session_start
            bar.update(1)
            _keep_snapshot(s)
            at_end = s.state.step == cfg.max_steps
            if s.state.step % cfg.log_interval == 0 or at_end:
                loss_value = loss.item()  # the only host sync on ordinary steps
                _stop_if_not_finite(s, loss_value)
                now = time.perf_counter()
                rate = window_tokens / max(now - window_start, 1e-9)
                window_start, window_tokens = now, 0
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", tok_s=f"{rate:,.0f}", refresh=False)
            if s.state.step % cfg.eval_interval == 0 or at_end:
                _evaluate_and_save(s, lr=lr)
                window_start, window_tokens = time.perf_counter(), 0  # tokens/s counts training only
            elif interrupt_requested() or s.state.step == stop_after_step:
                _stop_if_not_finite(s, loss.item())
                _save(s, best=False)
            if interrupt_requested() or s.state.step == stop_after_step:
                interrupted = interrupt_requested()
                if interrupted:
                    log.warning("interrupted: saved step %d to %s", s.state.step, s.run.last_checkpoint)
                break
    bar.close()
    return TrainResult(s.run, s.state.step, s.state.best_val_loss, interrupted)


def _evaluate_and_save(s: _Session, lr: float) -> None:
    start = time.perf_counter()
    cfg = s.config.train
    scores = _scores(s)
    _stop_if_not_finite(s, scores["train_loss"])
    record = {
        "step": s.state.step,
        "tokens": s.state.tokens_seen,
        **(
            {"epoch": round(s.state.step * s.data.batch_size * cfg.grad_accum_steps / s.data.epoch_size, 3)}
            if s.data.epoch_size
            else {}
        ),
        **scores,
        "param_norm": round(parameter_norm(s.model), 4),
        "lr": lr,
        "time": round(s.state.elapsed_seconds, 3),
        "train_time": round(s.state.elapsed_seconds - s.state.eval_seconds, 3),
    }
    s.run.append_metrics(record)
    accuracy = f", val acc {scores['val_acc']:.4f}" if "val_acc" in scores else ""
    log.info(
        "step %d: train loss %.4f, val loss %.4f%s",
        s.state.step,
        scores["train_loss"],
        scores["val_loss"],
        accuracy,
    )
    is_best = scores["val_loss"] < s.state.best_val_loss
    if is_best:
        s.state.best_val_loss = scores["val_loss"]
    _save(s, best=is_best)
    if s.state.step > 0:  # the step-0 evaluation runs before the clock starts
        s.state.eval_seconds += time.perf_counter() - start


def _scores(s: _Session) -> dict[str, float]:
    """train_loss and val_loss; pair tasks add accuracies and a loss and accuracy per group."""
    cfg = s.config.train
    scores = {}
    for split in ("train", "val"):
        batches = s.data.loss_batches(split, cfg.eval_steps, seed=cfg.seed + s.state.step)
        if not isinstance(s.data, PairBatches):
            scores[f"{split}_loss"] = estimate_loss(
                s.model,
                batches,
                device=s.device,
                dtype=s.dtype,
                use_segments=s.config.model.segment_embeddings,
            )
            continue
        pair_scores = evaluate_pairs(
            s.model,
            batches,
            device=s.device,
            dtype=s.dtype,
            use_segments=s.config.model.segment_embeddings,
            loss_average=cfg.loss_average,
            group_names=s.data.group_names,
        )
        scores.update({f"{split}_{name}": value for name, value in pair_scores.items()})
    return dict(sorted(scores.items(), key=lambda item: (item[0].count("_"), item[0])))


@torch.no_grad()
def parameter_norm(model: nn.Module) -> float:
    """The L2 norm of all parameters as one vector, ||theta||_2 (tied weights once)."""
    return math.sqrt(sum(float(p.double().pow(2).sum()) for p in model.parameters()))


def _save(s: _Session, best: bool) -> None:
    s.state.rng = {
        "torch": encode_rng(torch.get_rng_state()),
        "batches": encode_rng(s.batch_generator.get_state()),
    }
    if s.device.type == "cuda":
        s.state.rng["cuda"] = encode_rng(torch.cuda.get_rng_state())
    save_checkpoint(s.run.last_checkpoint, s.model, s.optimizer, s.state)
    if best:
        save_checkpoint(s.run.best_checkpoint, s.model, s.optimizer, s.state)


def _keep_snapshot(s: _Session) -> None:
    """Weights only, every train.snapshot_interval steps (and at step 0), for looking back in time."""
    interval = s.config.train.snapshot_interval
    if interval and s.state.step % interval == 0:
        save_checkpoint(s.run.snapshot(s.state.step), s.model, None, s.state)


def _stop_if_not_finite(s: _Session, loss_value: float) -> None:
    if math.isfinite(loss_value):
        return
    raise LmlabError(
        f"loss became {loss_value} at step {s.state.step}; training stopped and the last good checkpoint "
        f"is kept in {s.run.last_checkpoint}; lower train.lr or set train.grad_clip, "
        f"then --resume {s.run.path}"
    )


@contextmanager
def _deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a flag the loop checks between steps; a second one aborts at once."""
    requested = False

    def handler(signum, frame) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        log.warning("Ctrl-C: saving a checkpoint after this step (press again to abort without saving)")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield lambda: False
        return
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)
