"""Loss of a model on a corpus: a quick estimate during training, the exact figure afterwards."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lmlab.data.corpus import random_windows, sequential_windows
from lmlab.models.loss import next_token_loss
from lmlab.training.device import autocast


@torch.inference_mode()
def estimate_loss(
    model: nn.Module,
    ids: torch.Tensor,
    batch_size: int,
    block_size: int,
    n_batches: int,
    seed: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> float:
    """Mean loss over `n_batches` random windows drawn with their own seeded generator.

    The generator is separate from training's, so evaluating never changes the training batches.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros((), device=device)
    for _ in range(n_batches):
        x, y = random_windows(ids, batch_size, block_size, generator)
        with autocast(device, dtype):
            _, loss = model(x.to(device), y.to(device))
        total += loss.float()
    model.train(was_training)
    return (total / n_batches).item()


@dataclass(frozen=True)
class SplitScore:
    """Exact scores over every target of a split."""

    loss: float  # mean negative log-likelihood per token, nats
    tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)


@torch.inference_mode()
def evaluate_split(
    model: nn.Module,
    ids: torch.Tensor,
    block_size: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> SplitScore:
    """Mean loss over the whole split, each target predicted once from non-overlapping windows.

    A target early in its window sees less context than in a sliding evaluation, so this is a
    slight over-estimate of the model's loss at full context.
    """
    model.eval()
    total_nll = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for x, y in sequential_windows(ids, block_size, batch_size):
        with autocast(device, dtype):
            logits, _ = model(x.to(device))
        total_nll += next_token_loss(logits, y.to(device), reduction="sum").double()
        count += y.numel()
    return SplitScore(loss=(total_nll / count).item(), tokens=count)
