"""What, besides weights and optimizer, makes a resumed run exact: counters and RNG states."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import torch


@dataclass
class TrainingState:
    """Counters and RNG states that, with weights and optimizer, make a resumed run exact."""

    step: int = 0
    tokens_seen: int = 0
    best_val_loss: float = float("inf")
    elapsed_seconds: float = 0.0  # wall time since the run started (sessions added up)
    eval_seconds: float = 0.0  # the part of it spent evaluating and saving
    # name -> base64 of a torch RNG state: "batches" (one for all ranks), "torch" and "cuda" (rank 0),
    # "torch.rank1", ... (the other ranks of a torchrun job)
    rng: dict[str, str] = field(default_factory=dict)
    world_size: int = 1  # processes that trained it (torchrun); a global batch has this many shares
    # train.dtype=float16: torch.amp.GradScaler's state (scale, growth tracker), so a resume scales the
    # loss as the uninterrupted run would; empty otherwise
    grad_scaler: dict[str, float] = field(default_factory=dict)
    # train.grad_filter: the filter's tensors (lmlab.training.grad_filter), set when a checkpoint is saved
    # and read back on resume; kept in the checkpoint's grad_filter.safetensors, never in state.json
    grad_filter: dict[str, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)


def encode_rng(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def decode_rng(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def rank_key(name: str, rank: int) -> str:
    """Key of a per-rank RNG state in TrainingState.rng: rank 0's is the plain name."""
    return name if rank == 0 else f"{name}.rank{rank}"
