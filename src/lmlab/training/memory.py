"""Peak memory of a piece of work: allocated tensors on CUDA, the process's resident set on CPU."""

from __future__ import annotations

from pathlib import Path

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak. On CPU this needs Linux (/proc); elsewhere the peak covers the whole process."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")  # Linux: VmHWM restarts from the current RSS


def peak_memory_mib(device: torch.device) -> float | None:
    """CUDA: the most memory tensors held since the reset. CPU: the process's peak RSS (VmHWM), which
    also counts Python, torch and anything the allocator kept. None where the OS does not say."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if not STATUS.exists():
        return None
    for line in STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None
