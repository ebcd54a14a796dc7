"""AdamW with weight decay on weight matrices only."""

from __future__ import annotations

import torch
from torch import nn

from lmlab.config import TrainConfig


def decay_groups(
    model: nn.Module, decay_embeddings: bool, decay_all: bool = False
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed): Linear weights decay; biases, norms and embeddings do not, unless asked
    (`decay_all`: every parameter, as AdamW(model.parameters()) in the arithmetic assignment).

    A weight tied to an embedding counts as the embedding.
    """
    if decay_all:
        return list(model.parameters()), []
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    linear_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    decayed, kept = [], []
    for param in model.parameters():  # each tied parameter once
        is_matrix = id(param) in linear_ids and id(param) not in embedding_ids
        (decayed if is_matrix or (decay_embeddings and id(param) in embedding_ids) else kept).append(param)
    return decayed, kept


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    decayed, kept = decay_groups(model, config.decay_embeddings, config.decay_all)
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]
    # the fused kernel does the whole update in one pass; it exists for CPU and CUDA tensors
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)
