"""`train`: a training session written into a run directory, fresh or resumed.

The order matters for a run that already exists: everything that can fail on resume (loading the
tokenizer, the data, the checkpoint into the configured model) happens before config.json is written,
so a refused resume leaves the run as it was.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lmlab.config import RunConfig
from lmlab.data.batches import BatchSource, PairBatches, make_batches
from lmlab.errors import LmlabError
from lmlab.models.size import estimate_parameters
from lmlab.runs.checkpoint import load_training_state, load_weights
from lmlab.runs.environment import record_session_end, record_session_start
from lmlab.runs.lock import locked
from lmlab.runs.resume import check_resume_changes
from lmlab.runs.run_dir import RunDir, check_fresh_folder, write_atomic
from lmlab.runs.trackers import check_trackers, tracked
from lmlab.tokenizers import Tokenizer, save_tokenizer, tokenizer_from_dict
from lmlab.training.distributed import (
    Distributed,
    broadcast_object,
    from_environment,
    process_group,
    rank_device,
)
from lmlab.training.epochs import steps_for_epochs
from lmlab.training.loop import FitResult, fit
from lmlab.training.session import build_session
from lmlab.training.threads import choose_threads, free_cores, torch_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult(FitResult):
    """How the session ended (FitResult), and the run directory it wrote."""

    run: RunDir


def train(
    config: RunConfig,
    run_path: Path,
    data_dir: Path | None = None,
    resume: bool = False,
    stop_after_step: int | None = None,
    progress: bool = True,
    resume_from: str = "last",
    trackers: str | Sequence[str] = (),
) -> TrainResult:
    """Train `config` into `run_path` (or continue the run there when `resume`).

    `stop_after_step` ends the session early after that many optimizer steps, saving a checkpoint
    that `resume=True` continues from, as Ctrl-C does. `resume_from="best"` continues from the best
    checkpoint instead of the last (when `last` is damaged); the records after it are dropped.

    Started by torchrun (WORLD_SIZE > 1), this process is one rank of a data-parallel job: the global
    batch per step is train.batch_size x train.grad_accum_steps x WORLD_SIZE, and rank 0 alone logs,
    evaluates and writes `run_path` (on a filesystem every node sees, for --resume).

    `trackers` ("tensorboard", "wandb", or both; a comma-separated string too) also sends the records
    to those trackers (lmlab.runs.trackers); a resume logs to them only when they are named again.
    """
    trackers = check_trackers(trackers)  # an unknown name or a missing package, before any work
    if resume_from not in ("last", "best"):
        raise LmlabError(f"--checkpoint {resume_from!r} cannot be resumed (a snapshot keeps no optimizer); "
                         "resume from last or best")  # fmt: skip
    if config.train.counts_epochs and not config.data.has_epochs:
        raise LmlabError(
            f"data.dataset={config.data.dataset} is a text corpus read in random windows and has no epochs; "
            "set data.windows=all to read every window once an epoch, or drop train.max_epochs and the "
            "*_interval_epochs keys and count train.max_steps"
        )
    dist = from_environment()
    run = RunDir(run_path)
    if resume and run.checkpoint_step(resume_from) is not None:
        check_resume_changes(run.config(), config, run_path)
    elif not resume:
        check_fresh_folder(run_path)
    # rank 0 alone writes the run, so it alone holds the lock
    with (
        locked(run_path) if dist.is_main else nullcontext(),
        process_group(dist, rank_device(config.train.device, dist)),
    ):
        # every rank checks before the first collective, so rank 0 has written nothing yet
        started = run.checkpoint_step(resume_from if resume else "last") is not None
        if not resume and started:
            raise LmlabError(
                f"{run_path} already holds a run; continue it with --resume {run_path} or pick another --out"
            )
        if resume and not started:
            log.warning(
                "%s has no complete checkpoint (stopped during its first save): starting over", run_path
            )
            resume = False
        if resume:  # the folder the run was trained with (RUN/data.json), unless another is given
            data_dir = run.data_dir(data_dir)
        data = _load_data(config, data_dir, run.tokenizer() if resume else None, dist)
        config = _resolved(config, data, dist.world_size)
        restore = None
        if resume:

            def restore(model: nn.Module, optimizer):
                load_weights(run.checkpoint(resume_from), model)
                return load_training_state(run.checkpoint(resume_from), optimizer)

        parameters = estimate_parameters(config.model)
        available = torch.get_num_threads()
        threads = choose_threads(config.train.threads, parameters, available, free_cores(available))
        with torch_threads(threads):
            session = build_session(config, data, dist, restore)
            if dist.is_main:
                if isinstance(data, PairBatches) and data.task.warning:
                    log.warning("WARNING: %s", data.task.warning)
                for line in data.describe():
                    log.info("%s", line)
                log.info("%s parameters, %d torch thread%s", f"{parameters:,}", threads, "s"[: threads > 1])
                _write_run_files(run, config, data, resume, session.state.step)
                run.remember_data_dir(data_dir)
                record_session_start(run.path, session.device, threads, session.state.step, resume)
            start = session.state.step if resume else None
            try:
                with tracked(run, trackers if dist.is_main else (), config, start) as writer:
                    result = fit(session, writer, stop_after_step, progress and dist.is_main)
            finally:
                if dist.is_main:
                    record_session_end(run.path, session.device, session.state.step)
                # DDP's reducer holds the process group: let it go first, so that the group is torn down
                # by destroy_process_group, which releases the GIL that gloo's threads may still need
                # (torn down by the reducer instead, it can deadlock at exit)
                session.trained = session.forward = session.model
                if dist.enabled:
                    # the DDP wrapper sits in reference cycles (autograd hooks): free it now, while the
                    # process group exists; freed at interpreter exit, its gloo threads abort the process
                    gc.collect()
    return TrainResult(result.step, result.best_val_loss, result.interrupted, run)


def _resolved(config: RunConfig, data: BatchSource, world_size: int) -> RunConfig:
    """The config with what the data decided: the vocabulary size, what data.source=auto found, and
    train.max_steps when the run is train.max_epochs long."""
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, vocab_size=data.tokenizer.vocab_size)
    )
    if config.train.max_epochs:
        assert data.epoch_size is not None, "train() refuses epochs for random windows"
        per_step = data.batch_size * config.train.grad_accum_steps * world_size  # Session.sequences_per_step
        steps = steps_for_epochs(config.train.max_epochs, data.epoch_size, per_step)
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=steps))
    if isinstance(data, PairBatches) and config.data.source == "auto":
        # record what "auto" found, so eval scores the test split this run was trained against
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, source=data.task.source))
    return config


def _write_run_files(run: RunDir, config: RunConfig, data: BatchSource, resume: bool, step: int) -> None:
    """config.json and tokenizer.json of a new run; on resume, config.json (--set may have changed it)
    and metrics.jsonl and train_loss.jsonl cut back to the checkpoint's step."""
    run.path.mkdir(parents=True, exist_ok=True)
    write_atomic(run.config_file, config.to_json())
    if not resume:
        save_tokenizer(data.tokenizer, run.tokenizer_file)
        run.metrics_file.unlink(missing_ok=True)  # records of an attempt that saved no checkpoint
        run.train_loss_file.unlink(missing_ok=True)
        return
    # a run resumed at step 0 evaluates step 0 again: drop the record it will write anew
    run.truncate_metrics(after_step=step if step > 0 else -1)
    run.truncate_train_losses(after_step=step)
    log.info("resuming %s at step %d", run.path, step)


def _load_data(
    config: RunConfig, data_dir: Path | None, tokenizer: Tokenizer | None, dist: Distributed
) -> BatchSource:
    """The run's batches. Under torchrun rank 0 prepares them first (download, tokenizer fit) and the
    other ranks encode with its tokenizer, so every rank holds the same ids without a shared disk."""
    if not dist.enabled or tokenizer is not None:
        return make_batches(config, data_dir, tokenizer)
    data = make_batches(config, data_dir) if dist.is_main else None
    shared = broadcast_object(dist, data.tokenizer.to_dict() if data is not None else None)
    return data if data is not None else make_batches(config, data_dir, tokenizer_from_dict(shared))
