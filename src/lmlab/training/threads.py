"""How many torch threads a training run uses on the CPU.

A small model's matrix products are too short to split: a second thread adds synchronisation, and on
a machine whose other core is busy it waits for that core at every barrier (bench/threads.py measured
scan-simple at one thread more than 5 times faster than at two while another process ran). Above
SMALL_MODEL_PARAMETERS the work per product is large enough for every core to help.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)

SMALL_MODEL_PARAMETERS = 2_000_000  # below this, one thread (bench/threads.py)


def choose_threads(asked: int, parameters: int, available: int) -> int:
    """train.threads if set, else 1 for a small model and every available thread for a larger one."""
    if asked > 0:
        return asked
    return 1 if parameters < SMALL_MODEL_PARAMETERS else available


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads, then give the caller back its own setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
