"""Loss of a model on a corpus: a quick estimate during training, the exact figure afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from lmlab.data.corpus import sequential_windows
from lmlab.data.seq2seq import Batch
from lmlab.device import autocast
from lmlab.loss import IGNORE_INDEX, next_token_loss, sequence_scores


@torch.inference_mode()
def estimate_loss(
    model: nn.Module,
    batches: Iterable[Batch],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> float:
    """Mean loss per counted target over `batches` (a BatchSource's loss_batches)."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for batch in batches:
        batch = batch.to(device)
        with autocast(device, dtype):
            logits = model(batch.inputs, segments=batch.segments)  # (B, T, V)
        total += next_token_loss(logits, batch.targets, reduction="sum").double()
        count += int((batch.targets != IGNORE_INDEX).sum())
    model.train(was_training)
    return (total / max(count, 1)).item()


@torch.inference_mode()
def evaluate_pairs(
    model: nn.Module,
    batches: Iterable[Batch],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    loss_average: str = "token",
    group_names: list[str] | None = None,
) -> dict[str, float]:
    """Loss and accuracy (every target of a sequence right, teacher-forced) over `batches` of pairs.

    Returns {"loss", "acc"} and, for each group name g (e.g. "order2"), {"loss_g", "acc_g"} over the
    rows of that group. The loss is averaged per token or per sequence (`loss_average`).
    """
    was_training = model.training
    model.eval()
    nll, counts, correct, groups = [], [], [], []
    for batch in batches:
        batch = batch.to(device)
        with autocast(device, dtype):
            logits = model(batch.inputs, segments=batch.segments)  # (B, T, V)
        row_nll, row_count, row_correct = sequence_scores(logits, batch.targets)
        nll.append(row_nll.double())
        counts.append(row_count)
        correct.append(row_correct)
        groups.append(batch.groups.to(device) if batch.groups is not None else torch.zeros_like(row_count))
    model.train(was_training)
    nll_all, counts_all, correct_all, groups_all = (torch.cat(t) for t in (nll, counts, correct, groups))
    every = _pair_metrics(nll_all, counts_all, correct_all, loss_average)
    result = {"loss": every[0], "acc": every[1]}
    for index, name in enumerate(group_names or []):
        rows = groups_all == index
        if rows.any():
            loss, acc = _pair_metrics(nll_all[rows], counts_all[rows], correct_all[rows], loss_average)
            result[f"loss_{name}"], result[f"acc_{name}"] = loss, acc
    return result


def _pair_metrics(
    nll: torch.Tensor, counts: torch.Tensor, correct: torch.Tensor, loss_average: str
) -> tuple[float, float]:
    if loss_average == "sequence":
        loss = (nll / counts.clamp_min(1)).mean()
    else:
        loss = nll.sum() / counts.sum().clamp_min(1)
    return loss.item(), correct.double().mean().item()


@dataclass(frozen=True)
class SplitScore:
    """Exact scores over every target of a split (lmlab.evaluation.text_scores adds perplexity and bits)."""

    loss: float  # mean negative log-likelihood per token, nats
    tokens: int


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
            logits = model(x.to(device))  # (B, T, V)
        total_nll += next_token_loss(logits, y.to(device), reduction="sum").double()
        count += y.numel()
    return SplitScore(loss=(total_nll / count).item(), tokens=count)
