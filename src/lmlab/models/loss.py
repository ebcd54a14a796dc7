"""The one language-modelling loss every model family uses."""

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
