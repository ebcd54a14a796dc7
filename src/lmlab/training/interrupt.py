"""Ctrl-C during training: finish the step, save a checkpoint that --resume continues, then stop."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lmlab.training.distributed import Distributed

log = logging.getLogger(__name__)


@contextmanager
def deferred_interrupt(dist: Distributed) -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a flag the loop checks between steps; a second one aborts at once.

    Under torchrun, Ctrl-C reaches torchrun, which passes SIGINT on to every rank once and kills them
    after its --shutdown-timeout (30 s by default): the ranks agree at the next log step and save, so
    a log interval that takes longer than that loses the steps since the last checkpoint.
    """
    requested = False

    def handler(signum, frame) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        if not dist.enabled:
            log.warning("Ctrl-C: saving a checkpoint after this step (press again to abort without saving)")
        elif dist.is_main:
            log.warning("Ctrl-C: every rank saves a checkpoint at the next log step (train.log_interval)")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield lambda: False
        return
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)
