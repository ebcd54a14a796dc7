"""RUN/environment.json: the hardware and software a run trained on, and each session's peak memory.

{"cpu", "gpu", "device", "torch_threads", "torch", "python", "platform", "sessions": [...]}: the machine
fields describe the latest session; `sessions` gains one record per session (a resume appends), each
with its own machine fields, the steps it covered and its peak memory in MiB (None where unknown).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from lmlab.runs.files import write_atomic
from lmlab.training.memory import peak_memory_mib, reset_peak_memory

CPUINFO = Path("/proc/cpuinfo")
FILE_NAME = "environment.json"


def cpu_model() -> str:
    """The "model name" of /proc/cpuinfo where it exists (Linux), else platform.processor()."""
    try:
        for line in CPUINFO.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_environment(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    """The machine fields of a session on `device`."""
    gpu = None
    if device.type == "cuda":
        try:
            gpu = torch.cuda.get_device_name(device)
        except (RuntimeError, AssertionError):
            gpu = None
    return {
        "cpu": cpu_model(),
        "gpu": gpu,
        "device": str(device),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def read_environment(run_path: Path) -> dict[str, Any]:
    """environment.json of the run, or {} when there is none (or it is unreadable)."""
    path = Path(run_path) / FILE_NAME
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def record_session_start(run_path: Path, device: torch.device, threads: int, step: int, resume: bool) -> None:
    """At the start of a session: the machine fields, and a new session record (a resume appends to
    the list, a fresh run starts it over); the peak memory restarts here."""
    previous = read_environment(run_path) if resume else {}
    sessions = [s for s in previous.get("sessions", []) if isinstance(s, dict)]
    try:
        reset_peak_memory(device)
    except OSError:  # /proc/self/clear_refs refused: the peak covers the whole process
        pass
    machine = describe_environment(device, threads)
    sessions.append({**machine, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_step": step})
    _write(run_path, {**machine, "sessions": sessions})


def record_session_end(run_path: Path, device: torch.device, step: int) -> None:
    """At the end of a session (finished, stopped or interrupted): its last step and peak memory."""
    record = read_environment(run_path)
    sessions = record.get("sessions") or [{}]
    sessions[-1] = {**sessions[-1], "end_step": step, "peak_memory_mib": _rounded(peak_memory_mib(device))}
    _write(run_path, {**record, "sessions": sessions})


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _write(run_path: Path, record: dict[str, Any]) -> None:
    write_atomic(Path(run_path) / FILE_NAME, json.dumps(record, indent=2) + "\n")
