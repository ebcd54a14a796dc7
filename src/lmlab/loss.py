"""The language-modelling losses every model family shares: per token, and per sequence.

Models return logits only; training and evaluation compute the loss here, chosen once from the config
(`train.loss_average`) through `training_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -1  # targets equal to this (padding, masked positions) add nothing to the loss


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits (B, T, V) against targets (B, T); float32 even under autocast."""
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )


def training_loss(logits: torch.Tensor, targets: torch.Tensor, average: str = "token") -> torch.Tensor:
    """The objective a run minimises, logits (B, T, V) against targets (B, T), as one scalar.

    "token": the mean over every counted target (text corpora always; pair tasks by default).
    "sequence": each sequence's mean over its own counted targets, averaged over the batch (the
    arithmetic assignment's problem 3), so short and long targets weigh the same.
    """
    if average == "token":
        return next_token_loss(logits, targets)
    if average == "sequence":
        return sequence_loss_and_accuracy(logits, targets)[0]
    raise ValueError(f"loss average {average!r} is unknown; choose token or sequence")


def sequence_scores(
    logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sequence of logits (B, T, V) and targets (B, T), over the counted targets only:
    summed negative log-likelihood (B,), number of counted targets (B,), and whether every one of
    them is the argmax prediction (B,) bool.
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    counted = targets != IGNORE_INDEX  # (B, T)
    picked = log_probs.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)  # (B, T)
    nll = -(picked * counted).sum(dim=1)
    correct = ((logits.argmax(dim=-1) == targets) | ~counted).all(dim=1)
    return nll, counted.sum(dim=1), correct


def sequence_loss_and_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assignment 002, problem 3: each sequence's mean NLL over its counted targets (the right-hand side of
    an equation, padding excluded), and its accuracy: 1 when every counted target is predicted.

    reduction "mean" averages both over the batch, "sum" adds them up, "none" returns them per
    sequence (two (B,) tensors).
    """
    nll, counts, correct = sequence_scores(logits, targets)
    loss, accuracy = nll / counts.clamp_min(1), correct.float()
    if reduction == "mean":
        return loss.mean(), accuracy.mean()
    if reduction == "sum":
        return loss.sum(), accuracy.sum()
    if reduction == "none":
        return loss, accuracy
    raise ValueError(f"reduction {reduction!r} is unknown; choose mean, sum or none")
