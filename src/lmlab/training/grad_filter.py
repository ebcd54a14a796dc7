"""Grokfast gradient filters (Lee et al. 2024, "Grokfast: accelerated grokking by amplifying slow
gradients"): add λ times the slow component of the gradients to the gradients, once a step.

    ema: h ← α·h + (1−α)·g,   g ← g + λ·h     (h starts as the first gradient, not 0)
    ma:  h = mean of the last w gradients (fewer while fewer were seen), g ← g + λ·h

The loop calls `apply` after the step's gradients are complete: after gradient accumulation and
DDP's averaging (so every rank holds the same state), after float16's unscale, before clipping
(the clip bounds the filtered gradient the optimizer sees). Its state is tensors keyed by parameter
name (`state_dict`), which checkpoints keep in grad_filter.safetensors.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from lmlab.config.train import TrainConfig

log = logging.getLogger(__name__)


class GradFilter:
    """Either filter; `kind` is "ema" or "ma"."""

    def __init__(self, kind: str, alpha: float, lam: float, window: int) -> None:
        self.kind, self.alpha, self.lam, self.window = kind, alpha, lam, window
        self.slow: dict[str, torch.Tensor] = {}  # ema: h per parameter
        self.buffers: dict[str, torch.Tensor] = {}  # ma: (window, *shape) ring of past gradients
        self.seen = 0  # ma: gradients taken in; the next goes to slot seen % window

    @torch.no_grad()
    def apply(self, model: nn.Module, check_finite: bool = False) -> None:
        """Filter the gradients of `model` in place. `check_finite` (float16, whose scaler skips a step
        with overflowed gradients): such a step leaves the state as it was."""
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        if check_finite and not bool(torch.stack([g.isfinite().all() for g in grads.values()]).all()):
            return
        if self.kind == "ema":
            for name, g in grads.items():
                h = self.slow.get(name)
                if h is None:
                    self.slow[name] = h = g.detach().clone()
                else:
                    h.mul_(self.alpha).add_(g, alpha=1 - self.alpha)
                g.add_(h, alpha=self.lam)
            return
        slot, filled = self.seen % self.window, min(self.seen + 1, self.window)
        for name, g in grads.items():
            buffer = self.buffers.get(name)
            if buffer is None:
                buffer = self.buffers[name] = g.new_zeros((self.window, *g.shape))
            buffer[slot].copy_(g)
            g.add_(buffer[:filled].mean(0), alpha=self.lam)
        self.seen += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """ema: "ema.<parameter>" -> h; ma: "ma.<parameter>" -> the filled slots of the ring, in slot
        order, with "ma_seen" and "ma_window" (0-d int64)."""
        if self.kind == "ema":
            return {f"ema.{name}": h for name, h in self.slow.items()}
        filled = min(self.seen, self.window)
        state = {f"ma.{name}": buffer[:filled] for name, buffer in self.buffers.items()}
        if state:
            state["ma_seen"] = torch.tensor(self.seen, dtype=torch.int64)
            state["ma_window"] = torch.tensor(self.window, dtype=torch.int64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], model: nn.Module) -> None:
        """Take back a saved state onto `model`'s devices; a state of another filter (or window) is
        dropped with a warning and the filter starts afresh."""
        params = dict(model.named_parameters())
        prefix = f"{self.kind}."
        names = {key[len(prefix) :] for key in state if key.startswith(prefix)}
        window = int(state.get("ma_window", torch.tensor(self.window)))
        if not names or not names <= params.keys() or (self.kind == "ma" and window != self.window):
            log.warning(
                "the checkpoint's gradient-filter state does not fit train.grad_filter: starting afresh"
            )
            return
        for name in names:
            tensor = state[prefix + name].to(params[name].device)
            if self.kind == "ema":
                self.slow[name] = tensor.clone()
            else:
                buffer = self.buffers[name] = tensor.new_zeros((self.window, *params[name].shape))
                buffer[: len(tensor)].copy_(tensor)
        self.seen = int(state.get("ma_seen", torch.tensor(0)))


def make_grad_filter(cfg: TrainConfig) -> GradFilter | None:
    """The filter train.grad_filter asks for, or None (train.grad_filter=none)."""
    if cfg.grad_filter == "none":
        return None
    return GradFilter(cfg.grad_filter, cfg.grad_filter_alpha, cfg.grad_filter_lambda, cfg.grad_filter_window)
