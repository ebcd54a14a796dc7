"""Checkpoints: a folder of safetensors (weights, optimizer tensors) and JSON (everything else).

    checkpoints/last/model.safetensors      weights of the uncompiled model (tied tensors once)
    checkpoints/last/optimizer.safetensors  optimizer tensors, keyed "<param index>.<name>"
    checkpoints/last/state.json             step, counters, RNG states, optimizer hyper-parameters
    checkpoints/last/grad_filter.safetensors  train.grad_filter's state, keyed by parameter (if any)

Writes are atomic: the folder is written under a temporary name, then renamed into place, with the
previous version moved aside first and deleted last, so a kill at any moment leaves a complete
checkpoint (`load` falls back to the moved-aside one). Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file
from torch import nn

from lmlab.errors import LmlabError
from lmlab.runs.files import give_default_mode
from lmlab.training.state import TrainingState

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
GRAD_FILTER_FILE = "grad_filter.safetensors"
STATE_FILE = "state.json"
PICK_ANOTHER = "pick another with --checkpoint best (train --resume takes it too) or step-N"


def save_checkpoint(
    directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainingState
) -> None:
    """Write a complete checkpoint to `directory` atomically."""
    tmp = directory.with_name(f".{directory.name}.tmp")
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_unique_tensors(model.state_dict()), tmp / MODEL_FILE, metadata={"format": "pt"})
    meta: dict[str, Any] = {"format_version": FORMAT_VERSION, **state.__dict__}
    grad_filter = meta.pop("grad_filter")
    if optimizer is not None:
        tensors, meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        save_file(tensors, tmp / OPTIMIZER_FILE)
        if grad_filter:  # resumable checkpoints only, as the optimizer
            save_file({k: t.detach().contiguous() for k, t in grad_filter.items()}, tmp / GRAD_FILTER_FILE)
    (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1))
    for path in tmp.iterdir():
        give_default_mode(path)
        _fsync(path)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def complete_checkpoint(directory: Path) -> Path | None:
    """The complete checkpoint for `directory`: itself, the previous version if a save was cut off,
    or None when neither was ever completed."""
    if (directory / STATE_FILE).exists():
        return directory
    old = directory.with_name(f".{directory.name}.old")
    return old if (old / STATE_FILE).exists() else None


def checkpoint_path(directory: Path) -> Path:
    """The complete checkpoint for `directory` (see complete_checkpoint), or a one-line error."""
    if (found := complete_checkpoint(directory)) is not None:
        return found
    raise LmlabError(f"no checkpoint at {directory}; train first, or point at a run directory that has one")


def load_weights(directory: Path, model: nn.Module) -> None:
    """Load model.safetensors into `model`; tied tensors need only one of their names."""
    path = checkpoint_path(directory) / MODEL_FILE
    try:
        tensors = load(path.read_bytes())  # load_file refuses a path that is not UTF-8
    except (SafetensorError, FileNotFoundError, OSError) as error:
        raise LmlabError(f"cannot read {path} ({error}); the checkpoint is damaged: {PICK_ANOTHER}") from None
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        detail = str(error).split("\n\t")[1:2] or [type(error).__name__]
        raise LmlabError(
            f"{path} does not fit the model in config.json ({detail[0].strip()}); was the config edited "
            "after training?"
        ) from None
    aliases = _aliases(model.state_dict())
    missing = [name for name in missing if aliases.get(name) not in tensors]
    if missing or unexpected:
        raise LmlabError(
            f"{path} does not fit the model in config.json "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "was the config edited after training?"
        )


def load_state(directory: Path) -> dict[str, Any]:
    path = checkpoint_path(directory) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise LmlabError(f"{path} is not valid JSON; the checkpoint is damaged: {PICK_ANOTHER}") from None


def load_training_state(directory: Path, optimizer: torch.optim.Optimizer) -> TrainingState:
    """Restore the optimizer in place and return the counters, RNG states and gradient-filter state."""
    meta = load_state(directory)
    path = checkpoint_path(directory) / OPTIMIZER_FILE
    try:
        tensors = load(path.read_bytes())  # load_file refuses a path that is not UTF-8
    except (SafetensorError, FileNotFoundError, OSError) as error:
        raise LmlabError(f"cannot read {path} ({error}); the checkpoint is damaged: {PICK_ANOTHER}") from None
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    fields = TrainingState.__dataclass_fields__
    state = TrainingState(**{k: v for k, v in meta.items() if k in fields})
    if (path := checkpoint_path(directory) / GRAD_FILTER_FILE).exists():
        try:
            state.grad_filter = load(path.read_bytes())
        except (SafetensorError, OSError) as error:
            damaged = f"cannot read {path} ({error}); the checkpoint is damaged: {PICK_ANOTHER}"
            raise LmlabError(damaged) from None
    return state


def _unique_tensors(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop second names of tied tensors: safetensors refuses shared storage."""
    seen: set[int] = set()
    unique = {}
    for name, tensor in state_dict.items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        unique[name] = tensor.detach().contiguous()
    return unique


def _aliases(state_dict: dict[str, torch.Tensor]) -> dict[str, str]:
    """Each name of a tied tensor -> the first name with the same storage."""
    first: dict[int, str] = {}
    return {name: first.setdefault(t.data_ptr(), name) for name, t in state_dict.items()}


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())
