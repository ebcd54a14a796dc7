"""Where and in what precision a run computes."""

from __future__ import annotations

import contextlib
import os

import torch

from lmlab.errors import LmlabError


def resolve_device(name: str, flag: str = "") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; cpu, cuda and mps must exist. Errors name the config key
    train.device, or `flag` (e.g. --device) when a command-line flag chose the device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    asked, fix = f"train.device={name}", "--set train.device=cpu"
    if flag:
        asked, fix = f"{flag} {name}", f"{flag} cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise LmlabError(f"{asked} but no CUDA GPU is visible; use {fix} (or auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise LmlabError(f"{asked} but MPS is not available; use {fix} (or auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise LmlabError(f"{asked} is not a device lmlab knows; choose auto, cpu, cuda or mps")
    return torch.device(name)


def total_memory_bytes(device: torch.device) -> int | None:
    """Memory of a CUDA GPU, else of the machine (MPS shares it); None where the OS does not say."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 autocast on CUDA GPUs that support it, float16 (with loss scaling, see
    needs_loss_scaling) on those that do not, and float32 on CPU and MPS, where either is asked for."""
    named = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name in named:
        return named[name]
    if device.type == "cuda":
        # including_emulation=False: a T4 or V100 "supports" bf16 only by slow emulation
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.float32


def needs_loss_scaling(dtype: torch.dtype) -> bool:
    """float16's range is small: gradients underflow unless the loss is scaled up (GradScaler)."""
    return dtype == torch.float16


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed-precision context for forward passes; a no-op in float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
