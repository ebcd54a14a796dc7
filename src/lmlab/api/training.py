"""`lmlab.train()` and `lmlab.load()`: a preset trained into a run directory, as `lmlab train` does."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmlab.api.keywords import override_strings
from lmlab.api.run import Run
from lmlab.config import RunConfig, apply_overrides
from lmlab.device import resolve_device
from lmlab.errors import LmlabError
from lmlab.models.size import BYTES_TO_TRAIN, check_fits
from lmlab.plots.curves import plot_loss_curves
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, default_run_path, open_run
from lmlab.runs.trainer import TrainResult
from lmlab.runs.trainer import train as run_training
from lmlab.training import distributed

logger = logging.getLogger(__name__)


def train(
    preset: str,
    out: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: str | Sequence[str] = (),
    **overrides: Any,
) -> Run:
    """Train `preset` into `out` (None: a fresh runs/<preset>-<time>) and return the Run.

    Config overrides are keywords, SECTION__KEY=value: `lmlab.train("scan-simple", train__max_steps=200)`
    is `lmlab train scan-simple --set train.max_steps=200`. `resume=True` continues the run in `out`
    from its last checkpoint (the overrides applied to its own config), or starts it if it has none
    yet, so a notebook cell can be run again. `progress` shows the progress bar (a notebook bar in
    Jupyter); `log` also sends the curves to "tensorboard" and/or "wandb", as `--log`.
    """
    items = override_strings("lmlab.train", overrides)
    if resume and out is None:
        raise LmlabError("resume=True continues the run in out; give out='runs/NAME'")
    run_path = Path(out) if out is not None else default_run_path(preset)
    started = resume and RunDir(run_path).is_started()
    if started:
        recorded = open_run(run_path).config()
        if recorded.preset != preset:
            raise LmlabError(
                f"{run_path} is a run of preset {recorded.preset}, not {preset}; name that preset or "
                "pick another out"
            )
        config = apply_overrides(recorded, items)
    else:
        config = apply_overrides(load_preset(preset), items)
    result = train_config(
        config,
        run_path,
        data_dir=Path(data_dir) if data_dir is not None else None,
        resume=started,
        progress=progress,
        trackers=log,
    )
    if result.interrupted:
        logger.warning("interrupted at step %d; continue with resume=True", result.step)
    return Run(run_path)


def train_config(
    config: RunConfig,
    run_path: Path,
    *,
    data_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    resume_from: str = "last",
    trackers: str | Sequence[str] = (),
) -> TrainResult:
    """What `lmlab train` and `lmlab.train()` both do with a resolved config: refuse a model that does not
    fit before data or weights are allocated, train it into `run_path`, and leave `loss.png` there."""
    # vocab_size is 0 until the tokenizer is built, so a fresh run's estimate leaves out the embeddings
    training = "its weights, gradients and AdamW state (16 bytes a parameter)"
    check_fits(config.model, resolve_device(config.train.device), BYTES_TO_TRAIN, training)
    result = run_training(
        config,
        run_path,
        data_dir=data_dir,
        resume=resume,
        progress=progress,
        resume_from=resume_from,
        trackers=trackers,
    )
    metrics = result.run.metrics() if distributed.from_environment().is_main else []
    if metrics:  # torchrun's other ranks leave the plot to rank 0
        losses = {run_path.name: result.run.train_losses()}
        plot_loss_curves({run_path.name: metrics}, run_path / "loss.png", train_losses=losses)
    return result


def load(path: str | Path) -> Run:
    """The run in `path` (made by `lmlab train`, `lmlab.train()`, a comparison or a sweep)."""
    return Run(path)
