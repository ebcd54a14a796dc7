"""What the trainer records at each evaluation: losses (and accuracies for pair tasks) and ‖θ‖₂."""

from __future__ import annotations

import math

import torch
from torch import nn

from lmlab.config import TrainConfig
from lmlab.data.batches import BatchSource, PairBatches
from lmlab.evaluation.loss import estimate_loss, evaluate_pairs


def training_scores(
    model: nn.Module,
    data: BatchSource,
    config: TrainConfig,
    step: int,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, float]:
    """train_loss and val_loss; pair tasks add accuracies and a loss and accuracy per group.

    The batches are drawn from a generator seeded by (train.seed + step), so evaluating never moves
    the training batches and a resumed run evaluates the same batches.
    """
    scores = {}
    for split in ("train", "val"):
        batches = data.loss_batches(split, config.eval_steps, seed=config.seed + step)
        if not isinstance(data, PairBatches):
            scores[f"{split}_loss"] = estimate_loss(model, batches, device=device, dtype=dtype)
            continue
        pair_scores = evaluate_pairs(
            model,
            batches,
            device=device,
            dtype=dtype,
            loss_average=config.loss_average,
            group_names=data.group_names,
        )
        scores.update({f"{split}_{name}": value for name, value in pair_scores.items()})
    return dict(sorted(scores.items(), key=lambda item: (item[0].count("_"), item[0])))


@torch.no_grad()
def parameter_norm(model: nn.Module) -> float:
    """The L2 norm of all parameters as one vector, ||theta||_2 (tied weights once)."""
    return math.sqrt(sum(float(p.double().pow(2).sum()) for p in model.parameters()))
