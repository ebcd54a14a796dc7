"""Epochs of a pair task counted in optimizer steps: how many steps make E epochs, and which steps end one.

A step reads `sequences_per_step` pairs (over every rank); epoch k is complete after the first step
whose pairs read reach k x epoch_size, so an epoch rarely ends exactly on a step and these functions
round up: an evaluation "at epoch 1" is the one on the step that completes it.
"""

from __future__ import annotations

import math


def steps_for_epochs(epochs: int, epoch_size: int, sequences_per_step: int) -> int:
    """Optimizer steps to read `epochs` passes over `epoch_size` pairs, the last one completed."""
    return math.ceil(epochs * epoch_size / sequences_per_step)


def epoch_at(step: int, epoch_size: int, sequences_per_step: int) -> float:
    """Epochs read after `step` steps, e.g. 1.02 on the step that completes the first epoch."""
    return round(step * sequences_per_step / epoch_size, 3)


def ends_epochs(step: int, every: int, epoch_size: int, sequences_per_step: int) -> bool:
    """Whether `step` is step 0 or the step that completes a multiple of `every` epochs."""
    span = every * epoch_size
    return step == 0 or step * sequences_per_step // span > (step - 1) * sequences_per_step // span
