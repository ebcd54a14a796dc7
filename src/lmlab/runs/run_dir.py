"""A run directory: the files every command after `train` reads.

RUN/config.json       resolved RunConfig (vocab_size filled in)
RUN/tokenizer.json    the tokenizer
RUN/metrics.jsonl     one JSON record per evaluation
RUN/train_loss.jsonl  {"step", "loss"} per optimizer step: the loss of the batch it trained on
RUN/environment.json  CPU, GPU, device, threads, torch and Python versions; each session's peak memory
RUN/checkpoints/last  and RUN/checkpoints/best (lowest val loss)
RUN/checkpoints/step-0000500  weights kept every train.snapshot_interval steps (attention over training)
RUN/tensorboard/, RUN/wandb/  the trackers' files, with `lmlab train --log` (lmlab.runs.trackers)
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmlab.config import RunConfig, load_config_file
from lmlab.device import resolve_device
from lmlab.errors import LmlabError
from lmlab.models import build_model
from lmlab.runs.checkpoint import complete_checkpoint, load_state, load_weights, save_checkpoint
from lmlab.runs.files import write_atomic
from lmlab.tokenizers import Tokenizer, load_tokenizer
from lmlab.training.state import TrainingState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def tokenizer_file(self) -> Path:
        return self.path / "tokenizer.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def train_loss_file(self) -> Path:
        return self.path / "train_loss.jsonl"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "best"

    def snapshot(self, step: int) -> Path:
        return self.path / "checkpoints" / f"step-{step:07d}"

    def snapshot_steps(self) -> list[int]:
        """Steps with a kept snapshot, ascending."""
        folder = self.path / "checkpoints"
        if not folder.is_dir():
            return []
        return sorted(int(p.name[5:]) for p in folder.glob("step-*") if p.name[5:].isdigit())

    def checkpoint(self, which: str) -> Path:
        """`best`, `last`, or `step-N` (a snapshot kept by train.snapshot_interval)."""
        if which in ("last", "best"):
            return self.last_checkpoint if which == "last" else self.best_checkpoint
        step = which.removeprefix("step-")
        if not which.startswith("step-") or not step.isdigit():
            raise LmlabError(f"checkpoint {which!r} is unknown; choose last, best or step-N")
        if int(step) not in self.snapshot_steps():
            kept = (
                ", ".join(map(str, self.snapshot_steps()))
                or "none (train with --set train.snapshot_interval=K)"
            )
            raise LmlabError(f"{self.path} has no snapshot at step {int(step)}; kept steps: {kept}")
        return self.snapshot(int(step))

    def checkpoint_step(self, which: str = "last") -> int | None:
        """Step of checkpoint `which`; None while it was never completed. A run whose `last` has no
        complete checkpoint (never trained, or killed during its first save) has not started: the one
        rule that train, --resume, sweeps and compare follow."""
        folder = self.checkpoint(which)
        return int(load_state(folder)["step"]) if complete_checkpoint(folder) is not None else None

    def is_started(self) -> bool:
        return self.checkpoint_step() is not None

    def is_finished(self, max_steps: int | None = None) -> bool:
        """Whether the last complete checkpoint reached `max_steps`; None: the run's own train.max_steps,
        which a train.max_epochs run works out from its data when it starts (config.json keeps it)."""
        step = self.checkpoint_step()
        if step is None:
            return False
        return step >= (self.config().train.max_steps if max_steps is None else max_steps)

    def save(
        self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainingState
    ) -> Path:
        """Write checkpoint `name` (last, best or step-N) atomically; return its folder."""
        folder = (
            self.snapshot(int(name[5:])) if name.startswith("step-") else self.path / "checkpoints" / name
        )
        save_checkpoint(folder, model, optimizer, state)
        return folder

    @property
    def data_file(self) -> Path:
        return self.path / "data.json"

    def data_dir(self, given: Path | None = None) -> Path | None:
        """`given` (--data-dir), else the data folder the run was trained with, if it still exists, so
        eval and report find the files without being told again."""
        if given is not None or not self.data_file.exists():
            return given
        try:
            recorded = json.loads(self.data_file.read_text()).get("data_dir")
        except (json.JSONDecodeError, AttributeError):
            return None
        return Path(recorded) if recorded and Path(recorded).is_dir() else None

    def remember_data_dir(self, data_dir: Path | None) -> None:
        if data_dir is not None:
            write_atomic(self.data_file, json.dumps({"data_dir": str(Path(data_dir).resolve())}))

    def config(self) -> RunConfig:
        return load_config_file(self.config_file)

    def tokenizer(self) -> Tokenizer:
        return load_tokenizer(self.tokenizer_file)

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete record. A torn last line (an append cut off by a kill or a full disk) is
        dropped with a warning; a resume rewrites the file without it."""
        return _read_records(self.metrics_file)

    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_file.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past `after_step` (written after the checkpoint a resume starts from)."""
        kept = [r for r in self.metrics() if r["step"] <= after_step]
        write_atomic(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))

    def train_losses(self) -> list[dict[str, Any]]:
        """{"step", "loss"} of every optimizer step written so far (a torn last line dropped, as in
        metrics); empty for a run trained before lmlab recorded them."""
        return _read_records(self.train_loss_file)

    def append_train_losses(self, records: list[dict[str, Any]]) -> None:
        with self.train_loss_file.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))

    def truncate_train_losses(self, after_step: int) -> None:
        """Drop the losses of steps past `after_step`, as truncate_metrics does for a resume."""
        kept = [r for r in self.train_losses() if r["step"] <= after_step]
        write_atomic(self.train_loss_file, "".join(json.dumps(r) + "\n" for r in kept))


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a .jsonl file of the run, each with a "step"; a torn last line is dropped."""
    if not path.exists():
        return []
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and "step" in record:
            records.append(record)
        elif number == len(lines):
            log.warning("%s: dropped a torn last line (a write cut off)", path)
        else:
            raise LmlabError(
                f"{path} line {number} is not a record of the run; delete that line to read the others"
            )
    return records


def default_run_path(preset: str) -> Path:
    return Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def open_run(path: Path) -> RunDir:
    """An existing run directory, or a one-line error saying what is missing."""
    if not path.is_dir():
        raise LmlabError(f"{path} is not a directory; pass a run directory made by `lmlab train`")
    run = RunDir(path)
    if not run.config_file.exists():
        raise LmlabError(f"{path} has no config.json; it is not a run directory made by `lmlab train`")
    return run


# what a run (or a sweep's launcher, or the lock) writes into its folder before a first checkpoint
RUN_FILES = frozenset(
    {
        "config.json",
        "tokenizer.json",
        "data.json",
        "environment.json",
        "metrics.jsonl",
        "train_loss.jsonl",
        "checkpoints",
        "loss.png",
        "train.log",
        ".lock",
        "tensorboard",
        "wandb",
    }
)


def check_fresh_folder(path: Path) -> None:
    """Refuse, before any work, an --out that is a file or a folder of someone else's files."""
    if path.exists() and not path.is_dir():
        raise LmlabError(f"{path} is a file, not a run directory; pick another --out")
    if not path.is_dir():
        return
    if (path / "config.json").exists():
        try:
            load_config_file(path / "config.json")
            return  # a run that never completed a checkpoint: it starts over
        except LmlabError:
            raise LmlabError(
                f"{path} holds a config.json that is not an lmlab run's; pick a new or empty --out folder"
            ) from None
    foreign = sorted(p.name for p in path.iterdir() if not _written_by_lmlab(p.name))
    if foreign:
        raise LmlabError(
            f"{path} is a folder that is not an lmlab run (it holds {', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); pick a new or empty folder with --out"
        )


def load_model(
    run: RunDir, which: str = "best", device: str = "cpu"
) -> tuple[RunConfig, Tokenizer, nn.Module]:
    """(config, tokenizer, model in eval mode) from a run's checkpoint `which` (best or last)."""
    config = run.config()
    tokenizer = run.tokenizer()
    model = build_model(config.model)
    load_weights(run.checkpoint(which), model)
    model.to(resolve_device(device))
    return config, tokenizer, model.eval()


def _written_by_lmlab(name: str) -> bool:
    """A run's own file, or the temporary file of one (`.config.json.x1y2`: a write that was killed)."""
    return name in RUN_FILES or any(name.startswith(f".{known}.") for known in RUN_FILES)
