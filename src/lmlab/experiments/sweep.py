"""Sweeps: the Cartesian product of a grid of config values and seeds, trained in parallel processes.

A sweep lives in one folder:

    OUT/sweep.json            the resolved sweep (base preset, grid, seeds, overrides)
    OUT/runs/<name>/          one ordinary run directory per (grid point, seed), with train.log
    OUT/summary.{csv,md,tex}  summary metrics per grid point (and budget fraction), mean ± std over seeds
    OUT/plots/*.png           curves and summary plots

A run whose last checkpoint reached max_steps is not trained again and a run with a checkpoint short of
it is resumed, so a sweep that was killed restarts where it stopped. The grid key `preset` swaps the
base preset (e.g. `preset=arith-gpt,arith-lstm`). Each seed sets train.seed (initialisation and data
order) and data.split_seed (which examples train), as seed 002 does.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from lmlab.config import RunConfig, apply_overrides
from lmlab.errors import LmlabError
from lmlab.presets import load_preset

log = logging.getLogger(__name__)

PRESET_KEY = "preset"


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: `grid` maps a config key (or "preset") to its values, as command-line strings."""

    preset: str
    grid: dict[str, list[str]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    overrides: tuple[str, ...] = ()
    budget_fractions: tuple[float, ...] = (1.0,)  # summaries over the first α·T steps of every run
    name: str = ""  # the recipe's name, for titles (default: the preset)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise LmlabError("a sweep needs at least one seed; pass e.g. --seeds 0,42")
        for key, values in self.grid.items():
            if not values:
                raise LmlabError(f"--grid {key}= has no values; write e.g. --grid '{key}=1,2,3'")
        if not self.name:
            object.__setattr__(self, "name", self.preset)  # frozen: set once, here
        for fraction in self.budget_fractions:
            if not 0 < fraction <= 1:
                raise LmlabError(f"budget fraction {fraction} must be in (0, 1]")

    def to_dict(self) -> dict:
        return {
            "preset": self.preset,
            "grid": self.grid,
            "seeds": list(self.seeds),
            "overrides": list(self.overrides),
            "budget_fractions": list(self.budget_fractions),
        }

    @classmethod
    def from_dict(cls, raw: dict, name: str = "") -> SweepSpec:
        known = {"preset", "grid", "seeds", "overrides", "budget_fractions", "description"}
        unknown = set(raw) - known
        if unknown:
            raise LmlabError(f"sweep recipe: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(
            preset=raw["preset"],
            grid={k: [str(v) for v in values] for k, values in raw.get("grid", {}).items()},
            seeds=tuple(int(s) for s in raw.get("seeds", [0])),
            overrides=tuple(raw.get("overrides", [])),
            budget_fractions=tuple(float(a) for a in raw.get("budget_fractions", [1.0])),
            name=name,
        )


@dataclass(frozen=True)
class SweepRun:
    name: str  # folder name under OUT/runs
    point: dict[str, str]  # grid key -> value
    seed: int
    config: RunConfig


def expand(spec: SweepSpec) -> list[SweepRun]:
    """Every (grid point, seed), each with its resolved and validated config."""
    keys = list(spec.grid)
    runs = []
    for values in itertools.product(*(spec.grid[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        preset = point.get(PRESET_KEY, spec.preset)
        settings = [f"{k}={v}" for k, v in point.items() if k != PRESET_KEY]
        for seed in spec.seeds:
            config = apply_overrides(
                load_preset(preset),
                [*spec.overrides, *settings, f"train.seed={seed}", f"data.split_seed={seed}"],
            )
            runs.append(SweepRun(run_name(point, seed), point, seed, config))
    return runs


def run_name(point: dict[str, str], seed: int) -> str:
    parts = [f"{key.split('.')[-1]}={value}" for key, value in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", "_".join([*parts, f"seed={seed}"]))


def is_finished(run_path: Path, max_steps: int) -> bool:
    from lmlab.training.checkpoint import load_state

    last = run_path / "checkpoints" / "last"
    return last.exists() and load_state(last)["step"] >= max_steps


def default_workers(n_runs: int) -> int:
    """One single-threaded process per core the machine lets this process use, at most one per run."""
    return max(1, min(n_runs, _cores()))


def run_sweep(
    spec: SweepSpec,
    out_dir: Path,
    workers: int | None = None,
    data_dir: Path | None = None,
    on_done: Callable[[SweepRun, str], None] | None = None,
) -> list[SweepRun]:
    """Train every missing run of `spec` under out_dir/runs, `workers` at a time; returns all runs."""
    runs = expand(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_same_sweep(spec, out_dir)
    todo = [r for r in runs if not is_finished(out_dir / "runs" / r.name, r.config.train.max_steps)]
    for run in runs:
        if run not in todo and on_done:
            on_done(run, "already finished")
    workers = workers or default_workers(len(todo))
    if workers < 1:
        raise LmlabError(f"--workers {workers} must be at least 1")
    threads = max(1, _cores() // workers)
    if workers == 1:
        for run in todo:
            _train_one(run.config.to_dict(), str(out_dir / "runs" / run.name), data_dir, threads, False)
            if on_done:
                on_done(run, "trained")
        return runs
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(
                _train_one, r.config.to_dict(), str(out_dir / "runs" / r.name), data_dir, threads, True
            ): r
            for r in todo
        }
        for future in as_completed(futures):
            future.result()  # a failed run stops the sweep with its error
            if on_done:
                on_done(futures[future], "trained")
    return runs


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


RUN_DEFINING = ("preset", "grid", "seeds", "overrides")  # budget fractions only change the summaries


def check_same_sweep(spec: SweepSpec, out_dir: Path, record_it: bool = True) -> None:
    """Refuse to mix two different sweeps in one folder; record the sweep on first use."""
    record = out_dir / "sweep.json"
    if record.exists():
        previous = json.loads(record.read_text())
        if any(previous.get(key) != spec.to_dict()[key] for key in RUN_DEFINING):
            raise LmlabError(
                f"{out_dir} holds a different sweep (see {record}); pick another --out or repeat its "
                "exact arguments to continue it"
            )
        return
    if record_it:
        record.write_text(json.dumps(spec.to_dict(), indent=2))


def _exit_with_parent() -> None:
    """A worker whose sweep process was killed stops too, instead of training on unseen (and racing
    the restarted sweep for the same run directory)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_one(config: dict, run_path: str, data_dir: Path | None, threads: int, own_log: bool) -> None:
    """Train (or resume) one run; in a worker process its log goes to RUN/train.log."""
    import torch

    from lmlab.training.trainer import train

    torch.set_num_threads(threads)
    if own_log:
        _exit_with_parent()
    path = Path(run_path)
    path.mkdir(parents=True, exist_ok=True)
    if own_log:
        handler = logging.FileHandler(path / "train.log")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    resume = (path / "checkpoints" / "last").exists()
    if not resume:
        (path / "metrics.jsonl").unlink(missing_ok=True)  # killed before its first checkpoint: start over
    train(RunConfig.from_dict(config), path, data_dir=data_dir, resume=resume, progress=False)
