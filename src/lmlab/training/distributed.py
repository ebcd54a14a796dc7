"""Data-parallel training over processes started by torchrun (torch.distributed + DDP).

torchrun gives every process it starts RANK, LOCAL_RANK and WORLD_SIZE. Without them (or with
WORLD_SIZE=1) a run is the ordinary single process and nothing here touches torch.distributed.

Division of labour: every rank trains on its share of each global batch (DDP averages the gradients);
rank 0 alone evaluates, logs and writes files; the collectives below keep the ranks' decisions equal
(stop on NaN, Ctrl-C, best checkpoint), so no rank waits for a collective the others skip.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lmlab.device import resolve_device
from lmlab.errors import LmlabError


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job; the default is a lone process."""

    rank: int = 0  # 0 .. world_size-1 over all nodes
    world_size: int = 1
    local_rank: int = 0  # 0 .. processes on this node - 1: the GPU it uses

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Distributed()


def from_environment() -> Distributed:
    """The job torchrun describes in the environment, else a lone process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE
    return Distributed(
        rank=int(os.environ["RANK"]), world_size=world_size, local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )


def rank_device(name: str, dist: Distributed) -> torch.device:
    """train.device resolved for this rank: under torchrun each rank on a node takes its own GPU."""
    device = resolve_device(name)
    if not dist.enabled:
        return device
    if device.type == "mps":
        raise LmlabError("torchrun needs CUDA GPUs or the CPU; use --set train.device=cpu on this machine")
    if device.type == "cuda":
        if dist.local_rank >= torch.cuda.device_count():
            raise LmlabError(
                f"local rank {dist.local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                "lower torchrun's --nproc-per-node to the GPUs per node"
            )
        return torch.device("cuda", dist.local_rank)
    return device


@contextmanager
def process_group(dist: Distributed, device: torch.device) -> Iterator[None]:
    """Join torchrun's process group for the duration (NCCL between GPUs, gloo between CPU processes)."""
    if not dist.enabled:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl", device_id=device)
    else:
        torch_dist.init_process_group("gloo")
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> DistributedDataParallel:
    """DDP around `model`: rank 0's weights copied to every rank, gradients averaged in backward."""
    # lmlab's buffers are constants (causal mask, rotary tables): none to broadcast before every
    # forward; newer torch renamed the keyword that says so
    renamed = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_buffer_sync = {"forward_sync_buffers" if renamed else "broadcast_buffers": False}
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, **no_buffer_sync)


def all_sum(dist: Distributed, values: list[float], device: torch.device) -> list[float]:
    """Each value summed over the ranks, in one collective (float64, so token counts stay exact)."""
    if not dist.enabled:
        return values
    # NCCL reduces GPU tensors only, so the tensor lives on the rank's device
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_object(dist: Distributed, value: Any) -> Any:
    """Rank 0's `value` (a small picklable object) on every rank."""
    if not dist.enabled:
        return value
    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(dist: Distributed, value: Any) -> list[Any]:
    """Every rank's `value` (small, picklable), in rank order, on every rank."""
    if not dist.enabled:
        return [value]
    values: list[Any] = [None] * dist.world_size
    torch_dist.all_gather_object(values, value)
    return values
