"""Optional torch.compile with a fallback to eager mode where compilation fails."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def maybe_compile(model: nn.Module, enabled: bool, backend: str | Callable = "inductor") -> Callable:
    """The function training calls for forward passes: compiled when asked and possible, else the model.

    Compilation happens lazily at the first call, so failures are caught there as well. Checkpoints
    always save `model` itself, never the compiled wrapper.
    """
    if not enabled:
        return model
    try:
        compiled = torch.compile(model, backend=backend)
    except Exception as error:  # noqa: BLE001 -- e.g. no compiler support on this platform
        _warn(error)
        return model
    state = {"forward": compiled, "first_call": True}

    def forward(*args, **kwargs):
        if not state["first_call"]:
            return state["forward"](*args, **kwargs)
        state["first_call"] = False
        try:
            return compiled(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- any compiler failure falls back
            _warn(error)
            state["forward"] = model
            return model(*args, **kwargs)

    return forward


def _warn(error: BaseException) -> None:
    # dynamo wraps the compiler's own error; report that one
    while (inner := getattr(error, "inner_exception", None) or error.__cause__) is not None:
        error = inner
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    log.warning("torch.compile is not available here (%s); training continues without it", first_line[:200])
