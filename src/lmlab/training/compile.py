"""Optional torch.compile with a fallback to eager mode where compilation fails."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def maybe_compile(model: nn.Module, enabled: bool) -> Callable:
    """The function training calls for forward passes: compiled when asked and possible, else the model.

    Compilation happens lazily at the first call, so failures are caught there. Checkpoints always
    save `model` itself, never the compiled wrapper.
    """
    if not enabled:
        return model
    compiled = torch.compile(model)
    state = {"forward": compiled}

    def forward(*args, **kwargs):
        try:
            return state["forward"](*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- any compiler failure falls back
            if state["forward"] is model:
                raise
            log.warning(
                "torch.compile failed (%s); training continues without it", str(error).splitlines()[0]
            )
            state["forward"] = model
            return model(*args, **kwargs)

    return forward
