"""Setting up a training session: device, precision, model, optimizer, data order and resume state.

The session knows nothing of files: a resumed run hands in `restore`, which loads weights and optimizer
in place and returns the counters and RNG states (lmlab.runs reads them from the run's checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from lmlab.config import RunConfig
from lmlab.data.batches import BatchSource, PairBatches
from lmlab.device import needs_loss_scaling, resolve_dtype
from lmlab.models import build_model
from lmlab.training.compile import maybe_compile
from lmlab.training.distributed import SINGLE, Distributed, rank_device, wrap
from lmlab.training.grad_filter import GradFilter, make_grad_filter
from lmlab.training.optim import make_optimizer
from lmlab.training.state import TrainingState, decode_rng, rank_key

log = logging.getLogger(__name__)

Restore = Callable[[nn.Module, torch.optim.Optimizer], TrainingState]


@dataclass
class Session:
    """Everything the step loop touches."""

    config: RunConfig
    data: BatchSource
    model: nn.Module  # evaluated and saved
    trained: nn.Module  # the model, or its DDP wrapper under torchrun
    forward: Callable  # what training calls: `trained`, compiled if asked
    optimizer: torch.optim.Optimizer
    device: torch.device
    dtype: torch.dtype
    # float16 scales the loss and skips a step whose gradients overflow; a no-op (disabled) otherwise
    scaler: torch.amp.GradScaler
    batch_generator: torch.Generator  # the same on every rank: each takes its share of one draw
    state: TrainingState
    loss_average: str  # "token" or "sequence" (lmlab.loss.training_loss), chosen once here
    dist: Distributed = SINGLE
    pending_tokens: int = 0  # this rank's tokens not yet in state.tokens_seen (summed over ranks)
    # the training loss of each step since the last write, kept on the device: no host sync a step
    step_losses: list[torch.Tensor] = field(default_factory=list)
    last_loss_scale: float = float("inf")  # float16: the scale at the last log step (skipped steps lower it)
    grad_filter: GradFilter | None = None  # train.grad_filter (Grokfast); None: the gradients as they are

    @property
    def sequences_per_step(self) -> int:
        """Sequences in one optimizer step, over every rank."""
        return self.data.batch_size * self.config.train.grad_accum_steps * self.dist.world_size


def build_session(
    config: RunConfig, data: BatchSource, dist: Distributed = SINGLE, restore: Restore | None = None
) -> Session:
    """A fresh session for `config` on `data`, or the one `restore` continues."""
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
    scaler = torch.amp.GradScaler(device.type, enabled=needs_loss_scaling(dtype))
    state = TrainingState(world_size=dist.world_size)
    grad_filter = make_grad_filter(config.train)
    if restore is not None:
        state = restore(model, optimizer)
        if grad_filter is not None and state.grad_filter:
            grad_filter.load_state_dict(state.grad_filter, model)
        state.grad_filter = {}
        if scaler.is_enabled() and state.grad_scaler:  # a run resumed in float16 from float32 starts afresh
            scaler.load_state_dict(state.grad_scaler)
        _restore_rng(state.rng, batch_generator, device, dist)
        if state.world_size != dist.world_size and dist.is_main:
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
            log.info(
                "torchrun: a global batch of %d x %d accumulation x %d processes = %d sequences a step",
                data.batch_size,
                config.train.grad_accum_steps,
                dist.world_size,
                data.batch_size * config.train.grad_accum_steps * dist.world_size,
            )
    forward = maybe_compile(trained, config.train.compile)
    pairs = isinstance(data, PairBatches)
    loss_average = config.train.loss_average if pairs else "token"
    return Session(
        config, data, model, trained, forward, optimizer, device, dtype, scaler, batch_generator, state,
        loss_average, dist, grad_filter=grad_filter,
    )  # fmt: skip


def _restore_rng(
    rng: dict[str, str], generator: torch.Generator, device: torch.device, dist: Distributed
) -> None:
    """Each rank takes back its own torch (and CUDA) state, so dropout continues exactly; the batch
    generator is one state for all ranks. A rank the saving run did not have keeps its fresh seed."""
    generator.set_state(decode_rng(rng["batches"]))
    if (state := rng.get(rank_key("torch", dist.rank))) is not None:
        torch.set_rng_state(decode_rng(state))
    if device.type == "cuda" and (state := rng.get(rank_key("cuda", dist.rank))) is not None:
        torch.cuda.set_rng_state(decode_rng(state))
