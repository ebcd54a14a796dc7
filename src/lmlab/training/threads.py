"""How many torch threads a training run uses on the CPU.

Measured by bench/threads.py on the 2-core development machine (steps/s, one thread / two threads):
idle, two threads win (0.57-0.76); with one core busy with another process, one thread wins by 2-3x
(2.04-2.99), because every parallel region waits for the thread whose core is taken. So the default
takes the cores that are free when training starts (the cores less the 1-minute load average), and a
tiny model, which gains least from a second thread (0.75 for scan-simple) and loses most when a core
gets busy later, takes one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

TINY_MODEL_PARAMETERS = 100_000  # below this, one thread (scan-simple: 52k)


def free_cores(cores: int) -> int:
    """Cores not busy with other work right now: cores less the 1-minute load average, at least 1."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average (Windows)
        return cores
    return max(1, min(cores, round(cores - load)))


def choose_threads(asked: int, parameters: int, available: int, free: int) -> int:
    """train.threads if set, else 1 for a tiny model and the free cores (of `available`) otherwise."""
    if asked > 0:
        return asked
    return 1 if parameters < TINY_MODEL_PARAMETERS else max(1, min(available, free))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads, then give the caller back its own setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
