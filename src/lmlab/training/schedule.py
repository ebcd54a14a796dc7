"""Learning rate as a pure function of the step: linear warm-up, then decay to a floor."""

from __future__ import annotations

import math

from lmlab.config import TrainConfig


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Warm-up: lr * (step + 1) / warmup_steps for the first warmup_steps steps; then cosine, linear or
    no decay from lr down to min_lr at max_steps; or (cosine_floor, minGPT's) a cosine from lr towards 0
    at max_steps, held at min_lr once it falls below; or (wsd) lr held until the last cooldown_length steps
    (cooldown_steps, or cooldown_fraction of max_steps), which fall linearly to min_lr.
    """
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.lr_decay == "constant":
        return config.lr
    if config.lr_decay == "wsd":
        cooldown_start = config.max_steps - config.cooldown_length
        if step < cooldown_start:
            return config.lr
        progress = min(1.0, (step - cooldown_start + 1) / max(1, config.cooldown_length))
        return config.lr + progress * (config.min_lr - config.lr)
    decay_steps = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    if config.lr_decay == "linear":
        coefficient = 1.0 - progress
    elif config.lr_decay == "cosine_floor":
        return config.lr * max(config.min_lr / config.lr, 0.5 * (1.0 + math.cos(math.pi * progress)))
    else:
        coefficient = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr + coefficient * (config.lr - config.min_lr)
