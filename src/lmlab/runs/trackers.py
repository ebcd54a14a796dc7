"""Trackers: the run's records also sent to TensorBoard or Weights & Biases (off unless asked for).

They are fed from the records that go to metrics.jsonl and train_loss.jsonl, with the step as x:
`train/loss` per optimizer step, and `eval/<key>` for each number of an evaluation record
(`eval/train_loss`, `eval/val_loss`, `eval/lr`, ...).

RUN/tensorboard/   TensorBoard event files (`tensorboard --logdir runs/` shows every run, live)
RUN/wandb/         W&B's files (offline runs, with WANDB_MODE=offline), and `run_id`: a resumed session
                   continues that W&B run (offline: a new offline-run folder with the same id)

A resume logs to the trackers only when asked again; the records past the checkpoint it continues
from are hidden in TensorBoard (purge_step) and logged anew.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lmlab.config import RunConfig
from lmlab.errors import LmlabError
from lmlab.runs.run_dir import RunDir
from lmlab.training.state import TrainingState

# each is also the name of the package it needs, and of the extra that installs it
TRACKERS = ("tensorboard", "wandb")


def parse_trackers(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """`tensorboard,wandb` (or a sequence of names) -> the trackers, each known; else one line."""
    if names is None:
        return ()
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    unknown = [name for name in chosen if name not in TRACKERS]
    if unknown or (isinstance(names, str) and not chosen):
        raise LmlabError(
            f"--log {names if isinstance(names, str) else ','.join(map(str, names))!r} names no known "
            f"tracker; choose {', '.join(TRACKERS)} (comma-separated for both)"
        )
    return chosen


def check_trackers(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """The trackers, each known and with its package installed: checked before any work is done."""
    chosen = parse_trackers(names)
    for name in chosen:
        _require(name)
    return chosen


def _require(name: str) -> Any:
    """The tracker's package, imported now (lazily: lmlab never needs it otherwise)."""
    module = "torch.utils.tensorboard" if name == "tensorboard" else name
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LmlabError(
            f"--log {name} needs the {name} package; install it with pip install 'lmlab[{name}]'"
        ) from None


class Tracker(Protocol):
    def log(self, step: int, values: dict[str, float]) -> None: ...

    def flush(self) -> None: ...

    def close(self, failed: bool) -> None: ...


class TrackedRun:
    """A RunWriter: the run directory, with every record sent to the trackers too."""

    def __init__(self, run: RunDir, trackers: Sequence[Tracker]) -> None:
        self.run = run
        self.path = run.path
        self.trackers = list(trackers)

    def append_metrics(self, record: dict[str, Any]) -> None:
        self.run.append_metrics(record)
        values = {
            f"eval/{key}": value for key, value in record.items() if _is_number(value) and key != "step"
        }
        for tracker in self.trackers:
            tracker.log(int(record["step"]), values)

    def append_train_losses(self, records: list[dict[str, Any]]) -> None:
        self.run.append_train_losses(records)
        for tracker in self.trackers:
            for record in records:
                tracker.log(int(record["step"]), {"train/loss": record["loss"]})

    def save(
        self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer | None, state: TrainingState
    ) -> Path:
        folder = self.run.save(name, model, optimizer, state)
        if name == "last":  # the curves on disk reach at least the checkpoint a resume starts from
            for tracker in self.trackers:
                tracker.flush()
        return folder


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextmanager
def tracked(
    run: RunDir, names: Sequence[str], config: RunConfig, resume_step: int | None
) -> Iterator[TrackedRun | RunDir]:
    """The writer a session records through: `run` itself without trackers, else a TrackedRun whose
    trackers are closed when the session ends. `resume_step`: the checkpoint step a resume starts at."""
    if not names:
        yield run
        return
    trackers: list[Tracker] = []
    failed = False
    try:
        for name in names:
            trackers.append(
                (_TensorBoard if name == "tensorboard" else _WandB)(run.path, config, resume_step)
            )
        yield TrackedRun(run, trackers)
    except BaseException:
        failed = True
        raise
    finally:
        for tracker in reversed(trackers):
            tracker.close(failed)


class _TensorBoard:
    def __init__(self, run_path: Path, config: RunConfig, resume_step: int | None) -> None:
        folder = run_path / "tensorboard"
        if resume_step is None:
            shutil.rmtree(folder, ignore_errors=True)  # the curves of an attempt that saved no checkpoint
        # a resume rewrites every record past its checkpoint (step 0 included when it starts at 0)
        purge = None if resume_step is None else (resume_step + 1 if resume_step > 0 else 0)
        writer_class = _require("tensorboard").SummaryWriter
        self.writer = writer_class(log_dir=str(folder), purge_step=purge, flush_secs=10)
        if resume_step is None:
            self.writer.add_text("config", f"```\n{config.to_json()}\n```", 0)

    def log(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, failed: bool) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run_path: Path, config: RunConfig, resume_step: int | None) -> None:
        wandb = _require("wandb")
        folder = run_path / "wandb"
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / "run_id"
        if resume_step is not None and id_file.exists():
            run_id = id_file.read_text().strip()
        else:
            run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
            id_file.write_text(run_id + "\n")
        try:
            self.run = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "lmlab"),
                name=run_path.name,
                id=run_id,
                resume="allow",
                dir=str(run_path),  # W&B makes RUN/wandb/ under it
                config=json.loads(config.to_json()),
                settings=wandb.Settings(console="off"),  # the progress bar keeps the terminal
            )
        except wandb.errors.Error as error:
            message = " ".join(str(error).split())
            raise LmlabError(
                f"--log wandb could not start a W&B run ({message}); run `wandb login`, "
                "or set WANDB_MODE=offline to keep the run in RUN/wandb without an account"
            ) from None
        # the step is the x value: rows are logged as records arrive, not in step order
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    def log(self, step: int, values: dict[str, float]) -> None:
        self.run.log({"step": step, **values})

    def flush(self) -> None:
        pass  # W&B writes as it goes

    def close(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)
