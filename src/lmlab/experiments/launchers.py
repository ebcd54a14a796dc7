"""Where a sweep's runs train: spawned processes on this machine, or tasks on a Ray cluster.

Both launchers get the runs still to train and call the same `train_run` for each, which resumes a run
from its last checkpoint; `run_sweep` (lmlab.experiments.sweep) has already skipped the finished ones.

The Ray launcher (`pip install 'lmlab[ray]'`) submits one task per run, each reserving `cpus_per_run`
CPUs. Every node writes into the sweep folder, so it must be on storage every node mounts at the same
path (e.g. NFS), and each node needs lmlab installed and its data: the same --data-dir path, or its own
$LMLAB_DATA_DIR, cache or download. A run that fails is reported with its name and the others go on;
the sweep then stops with one line naming every failed run.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lmlab.config import RunConfig
from lmlab.errors import LmlabError

if TYPE_CHECKING:
    from lmlab.experiments.sweep import SweepRun

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 30.0  # after Ctrl-C, how long cancelled Ray runs get to save a checkpoint and stop

OnDone = Callable[["SweepRun", str], None]


class Launcher(Protocol):
    def launch(self, runs: list[SweepRun], runs_dir: Path, data_dir: Path | None, on_done: OnDone) -> None:
        """Train every run into runs_dir/<name>, calling on_done(run, "trained") as each finishes."""


@dataclass(frozen=True)
class LocalLauncher:
    """`workers` spawned processes on this machine (default: one per core), splitting its cores as threads."""

    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise LmlabError(f"--workers {self.workers} must be at least 1")

    def launch(self, runs: list[SweepRun], runs_dir: Path, data_dir: Path | None, on_done: OnDone) -> None:
        # more processes than runs would idle (and --workers 10**30 overflows the pool)
        workers = max(1, min(self.workers, len(runs))) if self.workers else default_workers(len(runs))
        threads = max(1, _cores() // workers)
        if workers == 1:
            for run in runs:
                train_run(run.config.to_dict(), str(runs_dir / run.name), data_dir, threads, own_log=False)
                on_done(run, "trained")
            return
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {
                pool.submit(
                    _train_in_worker, r.config.to_dict(), str(runs_dir / r.name), data_dir, threads
                ): r
                for r in runs
            }
            for future in as_completed(futures):
                future.result()  # a failed run stops the sweep with its error
                on_done(futures[future], "trained")


@dataclass(frozen=True)
class RayLauncher:
    """One Ray task per run on the cluster at `address`.

    address None: $RAY_ADDRESS, else the cluster `ray start` last started on this machine, else a new
    local Ray instance (ray.init's own order); a process that already called ray.init keeps its connection.
    """

    address: str | None = None
    cpus_per_run: int = 1  # CPUs each run reserves, and its torch threads
    max_at_once: int | None = None  # runs submitted at once (default: all; the cluster queues them)

    def __post_init__(self) -> None:
        if self.cpus_per_run < 1:
            raise LmlabError(f"--cpus-per-run {self.cpus_per_run} must be at least 1")
        if self.max_at_once is not None and self.max_at_once < 1:
            raise LmlabError(f"--workers {self.max_at_once} must be at least 1")

    def launch(self, runs: list[SweepRun], runs_dir: Path, data_dir: Path | None, on_done: OnDone) -> None:
        ray = import_ray()
        connected_here = not ray.is_initialized()
        if connected_here:
            _connect(ray, self.address)
        try:
            data_dir = data_dir.resolve() if data_dir else None  # the same path on every node
            self._train_all(ray, runs, runs_dir.resolve(), data_dir, on_done)
        finally:
            if connected_here:
                ray.shutdown()  # stops a local instance we started; from a cluster it only disconnects

    def _train_all(
        self, ray: Any, runs: list[SweepRun], runs_dir: Path, data_dir: Path | None, on_done: OnDone
    ) -> None:
        runs_dir.mkdir(parents=True, exist_ok=True)  # each task checks that it sees this folder
        # ray.remote's default retries a task whose node died; it then resumes from the last checkpoint
        task = ray.remote(_train_on_node)
        waiting, pending, failed = list(runs), {}, []
        try:
            while waiting or pending:
                while waiting and len(pending) < (self.max_at_once or len(runs)):
                    run = waiting.pop(0)
                    ref = task.options(num_cpus=self.cpus_per_run, name=f"lmlab-sweep:{run.name}").remote(
                        run.config.to_dict(), str(runs_dir / run.name), data_dir, self.cpus_per_run
                    )
                    pending[ref] = run
                [ready], _ = ray.wait(list(pending), num_returns=1)
                run = pending.pop(ready)
                try:
                    ray.get(ready)
                except Exception as error:  # ray.get re-raises the run's error, or the worker's death
                    failed.append(run.name)
                    on_done(run, f"failed: {_one_line(error)}")
                    continue
                on_done(run, "trained")
        except KeyboardInterrupt:
            _cancel(ray, list(pending))
            raise
        if failed:
            raise LmlabError(
                f"{len(failed)} of {len(runs)} runs failed ({', '.join(failed)}); "
                f"see {runs_dir}/<run>/train.log, fix the cause and run the sweep again to resume"
            )


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LmlabError("`--launcher ray` needs Ray: pip install 'lmlab[ray]'") from None
    return ray


def _connect(ray: Any, address: str | None) -> None:
    if address and re.fullmatch(r"[^:/]+:\d+", address):
        _check_reachable(address)  # ray.init retries an unreachable HOST:PORT for minutes
    try:
        ray.init(address=address)
    except ConnectionError as error:
        where = address or os.environ.get("RAY_ADDRESS") or "auto"
        raise LmlabError(
            f"no Ray cluster at {where} ({_one_line(error)}); start one with `ray start --head` "
            "or pass --ray-address HOST:6379"
        ) from None


def _check_reachable(address: str) -> None:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise LmlabError(
            f"cannot reach a Ray head at {address} ({error.strerror or error}); "
            "start one there with `ray start --head --port 6379` or fix --ray-address"
        ) from None


def _cancel(ray: Any, refs: list) -> None:
    """Ctrl-C: drop queued runs and interrupt running ones, which save a checkpoint first (best effort)."""
    log.warning("Ctrl-C: cancelling %d Ray runs; they save a checkpoint, so the sweep resumes", len(refs))
    for ref in refs:
        ray.cancel(ref)  # not force: the run sees a Ctrl-C, like a local run
    ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error  # RayTaskError carries the run's own exception
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def default_workers(n_runs: int) -> int:
    """One single-threaded process per core the machine lets this process use, at most one per run."""
    return max(1, min(n_runs, _cores()))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def train_run(config: dict, run_path: str, data_dir: Path | None, threads: int, own_log: bool) -> None:
    """Train (or resume) one run into run_path; with own_log its log goes to RUN/train.log."""
    import torch

    from lmlab.runs.run_dir import RunDir
    from lmlab.runs.trainer import train

    torch.set_num_threads(threads)
    path = Path(run_path)
    path.mkdir(parents=True, exist_ok=True)
    if own_log:
        handler = logging.FileHandler(path / "train.log")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    resume = RunDir(path).is_started()  # killed before its first checkpoint: start over
    train(RunConfig.from_dict(config), path, data_dir=data_dir, resume=resume, progress=False)


def _train_in_worker(config: dict, run_path: str, data_dir: Path | None, threads: int) -> None:
    _exit_with_parent()
    train_run(config, run_path, data_dir, threads, own_log=True)


def _train_on_node(config: dict, run_path: str, data_dir: Path | None, threads: int) -> None:
    """A Ray task: the run's folder must be the one the sweep sees, or its result would be lost."""
    if not Path(run_path).parent.is_dir():
        raise LmlabError(
            f"node {socket.gethostname()} does not see {Path(run_path).parent}; "
            "--out must be on storage every Ray node mounts at the same path (e.g. NFS)"
        )
    train_run(config, run_path, data_dir, threads, own_log=True)


def _exit_with_parent() -> None:
    """A worker whose sweep process was killed stops too, instead of training on unseen (and racing
    the restarted sweep for the same run directory)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
