"""Muon (momentum, then Newton-Schulz orthogonalisation) for hidden weight matrices, AdamW for the rest.

One torch.optim.Optimizer whose param groups say which rule they follow (`group["rule"]`, "adamw" or
"muon"), so state_dict / load_state_dict, checkpoints and torch.amp.GradScaler see a plain optimizer.
The AdamW groups are stepped by torch's own AdamW, which shares this optimizer's groups and state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

# the quintic Newton-Schulz coefficients of the Muon write-up (also torch.optim.Muon's defaults)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7


def ns_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on GPUs and on CPUs with native bfloat16 dot products; float32 on other CPUs.

    Measured (5 Newton-Schulz steps, 1 thread, best of 5 x 300 updates, AMD EPYC with avx512_bf16,
    torch 2.13): 128x128 bf16 1.50 ms / fp32 1.56 ms, 128x512 2.78 / 3.41, 512x128 2.13 / 3.92 -- bf16
    is as fast or faster there. The same runs with oneDNN limited to AVX512_CORE (no bf16 instructions):
    bf16 4.4 / 11.9 / 11.6 ms against fp32 1.5 / 4.3 / 4.1; limited to AVX2: bf16 23 / 77 / 66 ms
    against fp32 1.1 / 3.4 / 3.6. So float32 unless the CPU has bfloat16 in hardware.
    """
    if device.type != "cpu":
        return torch.bfloat16
    native: Callable[[], bool] = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    amx: Callable[[], bool] = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return torch.bfloat16 if native() or amx() else torch.float32


def orthogonalize(matrix: torch.Tensor, dtype: torch.dtype, steps: int = NS_STEPS) -> torch.Tensor:
    """An approximation of U V^T (U S V^T = matrix) by quintic Newton-Schulz steps, computed in `dtype`."""
    a, b, c = NS_COEFFICIENTS
    x = matrix.to(dtype)
    wide = x.size(0) <= x.size(1)
    if not wide:  # iterate on the smaller Gram matrix
        x = x.T
    x = x / x.norm().clamp(min=NS_EPS)  # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b G + c G^2
        x = torch.addmm(x, poly, x, beta=a)  # a X + (b G + c G^2) X
    return x if wide else x.T


def update_scale(shape: Sequence[int]) -> float:
    """sqrt(max(1, fan_out / fan_in)) for an (out, in) weight: torch.optim.Muon's adjust_lr_fn="original".

    Chosen over "match_rms_adamw" (0.2 sqrt(max(out, in)), meant to reuse AdamW's lr) because
    train.muon_lr's default 0.02 is the original Muon's lr, tuned with this scale; it keeps the update's
    spectral norm proportional to sqrt(fan_out / fan_in), so a qkv (3C x C) or MLP (4C x C) matrix moves
    its outputs as much as a square one, independent of width.
    """
    return math.sqrt(max(1.0, shape[0] / shape[1]))


class MuonAdamW(torch.optim.Optimizer):
    """Muon on the groups with rule "muon", torch's AdamW (fused on CPU and CUDA) on the "adamw" ones."""

    def __init__(
        self, groups: list[dict[str, Any]], lr: float, betas: tuple[float, float], fused: bool
    ) -> None:
        adamw_groups = [g for g in groups if g["rule"] == "adamw"]
        for group in groups:
            if group["rule"] == "muon":
                group.setdefault("nesterov", True)
                group.setdefault("ns_steps", NS_STEPS)
                if any(p.ndim != 2 for p in group["params"]):
                    raise ValueError("Muon updates 2-D weight matrices only")
        # fills AdamW's keys (betas, eps, fused, ...) into the same group dicts
        self._adamw = torch.optim.AdamW(adamw_groups, lr=lr, betas=betas, fused=fused)
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # load_state_dict replaces groups and state: point AdamW at the current ones every step
        self._adamw.param_groups = [g for g in self.param_groups if g["rule"] == "adamw"]
        self._adamw.state = self.state
        self._adamw.step()
        for group in self.param_groups:
            if group["rule"] == "muon":
                self._muon_step(group)
        return loss

    def _muon_step(self, group: dict[str, Any]) -> None:
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        for param in group["params"]:
            if param.grad is None:
                continue
            grad = param.grad
            state = self.state[param]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
            buffer = state["momentum_buffer"]
            buffer.lerp_(grad, 1 - momentum)  # an average of past gradients (torch.optim.Muon's form)
            update = grad.lerp(buffer, momentum) if group["nesterov"] else buffer
            update = orthogonalize(update, ns_dtype(param.device), group["ns_steps"])
            if decay:
                param.mul_(1 - lr * decay)  # decoupled weight decay
            param.add_(update.to(param.dtype), alpha=-lr * update_scale(param.shape))
