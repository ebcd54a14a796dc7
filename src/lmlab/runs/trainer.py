"""The training loop: setup -> fit, with evaluation, checkpoints, resume, Ctrl-C and NaN handling.

Under torchrun every process runs this loop on its share of each global batch (see
lmlab.training.distributed); a lone process runs exactly the code path it always did.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from lmlab.config import RunConfig
from lmlab.data.batches import BatchSource, PairBatches, make_batches
from lmlab.errors import LmlabError
from lmlab.evaluation.loss import segment_arguments
from lmlab.evaluation.training_scores import parameter_norm, training_scores
from lmlab.models import build_model
from lmlab.loss import sequence_loss_and_accuracy
from lmlab.tokenizers import Tokenizer, save_tokenizer, tokenizer_from_dict
from lmlab.runs.checkpoint import (
    TrainingState,
    decode_rng,
    encode_rng,
    load_training_state,
    load_weights,
    save_checkpoint,
)
from lmlab.training.compile import maybe_compile
from lmlab.device import autocast, resolve_dtype
from lmlab.training.distributed import (
    SINGLE,
    Distributed,
    all_sum,
    broadcast_object,
    from_environment,
    gather_objects,
    process_group,
    rank_device,
    wrap,
)
from lmlab.training.interrupt import deferred_interrupt
from lmlab.training.optim import make_optimizer
from lmlab.runs.run_dir import RunDir, write_atomic
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
    model: nn.Module  # evaluated and saved
    trained: nn.Module  # the model, or its DDP wrapper under torchrun
    forward: Callable  # what training calls: `trained`, compiled if asked
    optimizer: torch.optim.Optimizer
    device: torch.device
    dtype: torch.dtype
    batch_generator: torch.Generator  # the same on every rank: each takes its share of one draw
    state: TrainingState
    dist: Distributed = SINGLE
    pending_tokens: int = 0  # this rank's tokens not yet in state.tokens_seen (summed over ranks)


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

    Started by torchrun (WORLD_SIZE > 1), this process is one rank of a data-parallel job: the global
    batch per step is train.batch_size x train.grad_accum_steps x WORLD_SIZE, and rank 0 alone logs,
    evaluates and writes `run_path` (on a filesystem every node sees, for --resume).
    """
    dist = from_environment()
    with process_group(dist, rank_device(config.train.device, dist)):
        session = _setup(config, run_path, data_dir, resume, dist)
        try:
            return _fit(session, stop_after_step, progress and dist.is_main)
        finally:
            # DDP's reducer holds the process group: let it go first, so that the group is torn down
            # by destroy_process_group, which releases the GIL that gloo's threads may still need
            # (torn down by the reducer instead, it can deadlock at exit)
            session.trained = session.forward = session.model
            if dist.enabled:
                # the DDP wrapper sits in reference cycles (autograd hooks): free it now, while the
                # process group exists; freed at interpreter exit, its gloo threads abort the process
                gc.collect()


def _setup(
    config: RunConfig, run_path: Path, data_dir: Path | None, resume: bool, dist: Distributed = SINGLE
) -> _Session:
    run = RunDir(run_path)
    # every rank checks before the first collective, so rank 0 has written nothing yet
    if not resume and (run.last_checkpoint.exists() or run.metrics_file.exists()):
        raise LmlabError(
            f"{run_path} already holds a run; continue it with --resume {run_path} or pick another --out"
        )
    data = _load_data(config, data_dir, run.tokenizer() if resume else None, dist)
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, vocab_size=data.tokenizer.vocab_size)
    )
    if isinstance(data, PairBatches) and config.data.source == "auto":
        # record what "auto" found, so eval scores the test split this run was trained against
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=data.task.source))
    if dist.is_main:
        for line in data.describe():
            log.info("%s", line)
        run_path.mkdir(parents=True, exist_ok=True)
        write_atomic(run.config_file, config.to_json())  # on resume too: --set may have changed it
        if not resume:
            save_tokenizer(data.tokenizer, run.tokenizer_file)
    device = rank_device(config.train.device, dist)
    dtype = resolve_dtype(config.train.dtype, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # initialisation (DDP copies rank 0's to the others) and dropout (each rank its own masks)
    torch.manual_seed(config.train.seed + dist.rank)
    model = build_model(config.model).to(device)
    optimizer = make_optimizer(model, config.train, device)
    batch_generator = torch.Generator().manual_seed(config.train.seed)  # data order
    state = TrainingState(world_size=dist.world_size)
    if resume:
        load_weights(run.last_checkpoint, model)
        state = load_training_state(run.last_checkpoint, optimizer)
        _restore_rng(state.rng, batch_generator, device, dist)
        if dist.is_main:
            # a run resumed at step 0 evaluates step 0 again: drop the record it will write anew
            run.truncate_metrics(after_step=state.step if state.step > 0 else -1)
            log.info("resuming %s at step %d", run_path, state.step)
            if state.world_size != dist.world_size:
                log.warning(
                    "the run was trained by %d processes and resumes with %d: the global batch changes "
                    "and the data order differs from an uninterrupted run's",
                    state.world_size,
                    dist.world_size,
                )
        state.world_size = dist.world_size
    trained = model
    if dist.enabled:
        trained = wrap(model, device)
        if dist.is_main:
            cfg = config.train
            log.info(
                "torchrun: a global batch of %d x %d accumulation x %d processes = %d sequences a step",
                data.batch_size,
                cfg.grad_accum_steps,
                dist.world_size,
                data.batch_size * cfg.grad_accum_steps * dist.world_size,
            )
    forward = maybe_compile(trained, config.train.compile)
    return _Session(
        config, run, data, model, trained, forward, optimizer, device, dtype, batch_generator, state, dist
    )


def _load_data(
    config: RunConfig, data_dir: Path | None, tokenizer: Tokenizer | None, dist: Distributed
) -> BatchSource:
    """The run's batches. Under torchrun rank 0 prepares them first (download, tokenizer fit) and the
    other ranks encode with its tokenizer, so every rank holds the same ids without a shared disk."""
    if not dist.enabled or tokenizer is not None:
        return make_batches(config, data_dir, tokenizer)
    data = make_batches(config, data_dir) if dist.is_main else None
    shared = broadcast_object(dist, data.tokenizer.to_dict() if data is not None else None)
    return data if data is not None else make_batches(config, data_dir, tokenizer_from_dict(shared))


def _restore_rng(
    rng: dict[str, str], generator: torch.Generator, device: torch.device, dist: Distributed
) -> None:
    """Each rank takes back its own torch (and CUDA) state, so dropout continues exactly; the batch
    generator is one state for all ranks. A rank the saving run did not have keeps its fresh seed."""
    generator.set_state(decode_rng(rng["batches"]))
    if (state := rng.get(_rank_key("torch", dist.rank))) is not None:
        torch.set_rng_state(decode_rng(state))
    if device.type == "cuda" and (state := rng.get(_rank_key("cuda", dist.rank))) is not None:
        torch.cuda.set_rng_state(decode_rng(state))


def _rank_key(name: str, rank: int) -> str:
    return name if rank == 0 else f"{name}.rank{rank}"


def _fit(s: _Session, stop_after_step: int | None, progress: bool) -> TrainResult:
    cfg, model_cfg = s.config.train, s.config.model
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
    window_start, window_tokens = time.perf_counter(), s.state.tokens_seen
    s.trained.train()
    with deferred_interrupt(s.dist) as interrupt_requested:
        while s.state.step < cfg.max_steps:
            lr = lr_at(s.state.step, cfg)
            for group in s.optimizer.param_groups:
                group["lr"] = lr
            for micro in range(cfg.grad_accum_steps):
                batch = s.data.train_batch(
                    s.state.step * cfg.grad_accum_steps + micro,
                    s.batch_generator,
                    s.dist.rank,
                    s.dist.world_size,
                )
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
                with _gradient_sync(s.trained, micro == cfg.grad_accum_steps - 1):
                    with autocast(s.device, s.dtype):
                        if per_sequence:
                            logits, _ = s.forward(x, **segments)
                            loss, _ = sequence_loss_and_accuracy(logits, y)
                        else:
                            _, loss = s.forward(x, y, **segments)
                    (loss / cfg.grad_accum_steps).backward()
                s.pending_tokens += batch.n_tokens
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
            s.optimizer.step()
            s.optimizer.zero_grad(set_to_none=True)
            s.state.step += 1
            s.state.elapsed_seconds = time.perf_counter() - session_start
            bar.update(1)
            _keep_snapshot(s)
            at_end = s.state.step == cfg.max_steps
            stop = s.state.step == stop_after_step
            # torchrun's ranks agree on a Ctrl-C at log steps below: no collective on ordinary steps
            interrupted = interrupt_requested() and not s.dist.enabled
            if s.state.step % cfg.log_interval == 0 or at_end:
                _count_tokens(s)
                loss_value, interrupted = _agree(s, loss, interrupt_requested())  # the only host sync
                _stop_if_not_finite(s, loss_value)
                now = time.perf_counter()
                rate = (s.state.tokens_seen - window_tokens) / max(now - window_start, 1e-9)
                window_start, window_tokens = now, s.state.tokens_seen
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", tok_s=f"{rate:,.0f}", refresh=False)
            if s.state.step % cfg.eval_interval == 0 or at_end:
                _evaluate_and_save(s, lr=lr)
                # tokens/s counts training only
                window_start, window_tokens = time.perf_counter(), s.state.tokens_seen
            elif interrupted or stop:
                _stop_if_not_finite(s, _agree(s, loss, interrupted)[0])
                _save(s, best=False)
            if interrupted or stop:
                if interrupted and s.dist.is_main:
                    log.warning("interrupted: saved step %d to %s", s.state.step, s.run.last_checkpoint)
                break
    bar.close()
    return TrainResult(s.run, s.state.step, s.state.best_val_loss, interrupted)


def _gradient_sync(trained: nn.Module, sync: bool) -> AbstractContextManager:
    """DDP averages gradients over the ranks in backward: once a step, on its last micro-batch."""
    if sync or not isinstance(trained, DistributedDataParallel):
        return nullcontext()
    return trained.no_sync()


def _agree(s: _Session, loss: torch.Tensor, interrupt: bool) -> tuple[float, bool]:
    """The ranks' mean loss on their last micro-batch, and whether any rank got a Ctrl-C."""
    loss_sum, votes = all_sum(s.dist, [loss.item(), float(interrupt)], s.device)
    return loss_sum / s.dist.world_size, votes > 0


def _count_tokens(s: _Session) -> None:
    """Add every rank's tokens since the last count to state.tokens_seen (a collective under torchrun)."""
    (tokens,) = all_sum(s.dist, [float(s.pending_tokens)], s.device)
    s.state.tokens_seen += int(tokens)
    s.pending_tokens = 0


def _evaluate_and_save(s: _Session, lr: float) -> None:
    start = time.perf_counter()
    _count_tokens(s)
    # rank 0 evaluates the bare model (DDP's forward would wait for the others); they wait here
    scores = broadcast_object(s.dist, _scores(s) if s.dist.is_main else None)
    _stop_if_not_finite(s, scores["train_loss"])
    if s.dist.is_main:
        _record(s, scores, lr)
    is_best = scores["val_loss"] < s.state.best_val_loss
    if is_best:
        s.state.best_val_loss = scores["val_loss"]
    _save(s, best=is_best)
    if s.state.step > 0:  # the step-0 evaluation runs before the clock starts
        s.state.eval_seconds += time.perf_counter() - start


def _record(s: _Session, scores: dict[str, float], lr: float) -> None:
    """Append the evaluation to metrics.jsonl and log it."""
    sequences_per_step = s.data.batch_size * s.config.train.grad_accum_steps * s.dist.world_size
    record = {
        "step": s.state.step,
        "tokens": s.state.tokens_seen,
        **(
            {"epoch": round(s.state.step * sequences_per_step / s.data.epoch_size, 3)}
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


def _scores(s: _Session) -> dict[str, float]:
    return training_scores(
        s.model, s.data, s.config.train, s.state.step, s.device, s.dtype, s.config.model.segment_embeddings
    )


def _save(s: _Session, best: bool) -> None:
    """Rank 0 writes the checkpoint; every rank calls this, to hand it its RNG states and tokens."""
    _count_tokens(s)
    states = {"torch": encode_rng(torch.get_rng_state())}
    if s.device.type == "cuda":
        states["cuda"] = encode_rng(torch.cuda.get_rng_state())
    every_rank = gather_objects(s.dist, states)
    if not s.dist.is_main:
        return
    s.state.rng = {"batches": encode_rng(s.batch_generator.get_state())}
    for rank, rank_states in enumerate(every_rank):
        s.state.rng.update({_rank_key(name, rank): state for name, state in rank_states.items()})
    save_checkpoint(s.run.last_checkpoint, s.model, s.optimizer, s.state)
    if best:
        save_checkpoint(s.run.best_checkpoint, s.model, s.optimizer, s.state)


def _keep_snapshot(s: _Session) -> None:
    """Weights only, every train.snapshot_interval steps (and at step 0), for looking back in time."""
    interval = s.config.train.snapshot_interval
    if interval and s.state.step % interval == 0:
        _count_tokens(s)
        if s.dist.is_main:
            save_checkpoint(s.run.snapshot(s.state.step), s.model, None, s.state)


def _stop_if_not_finite(s: _Session, loss_value: float) -> None:
    if math.isfinite(loss_value):
        return
    raise LmlabError(
        f"loss became {loss_value} at step {s.state.step}; training stopped and the last good checkpoint "
        f"is kept in {s.run.last_checkpoint}; lower train.lr or set train.grad_clip, "
        f"then --resume {s.run.path}"
    )
