"""Sweeps: the Cartesian product of a grid of config values and seeds, trained in parallel processes
or on a Ray cluster (see lmlab.experiments.launchers).

A sweep lives in one folder:

    OUT/sweep.json            the resolved sweep (base preset, grid, seeds, overrides)
    OUT/runs/<name>/          one ordinary run directory per (grid point, seed), with train.log
    OUT/summary.{csv,md,tex}  summary metrics per grid point (and budget fraction), mean ± std over seeds
    OUT/plots/*.png           curves and summary plots

A run whose last checkpoint reached max_steps is not trained again and a run with a checkpoint short of
it is resumed, so a sweep that was killed restarts where it stopped. The grid key `preset` swaps the
base preset (e.g. `preset=arith-gpt,arith-lstm`). Each seed sets train.seed (initialisation and data
order) and data.split_seed (which examples train), as the arithmetic assignment does.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lmlab.config import RunConfig, apply_overrides, check_shared
from lmlab.errors import LmlabError
from lmlab.experiments.launchers import Launcher, LocalLauncher
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir

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
            # shared by every run, so not refused where one does not apply (e.g. split_seed to a text corpus)
            shared = [*spec.overrides, f"train.seed={seed}", f"data.split_seed={seed}"]
            config = apply_overrides(load_preset(preset), settings, shared=shared)
            runs.append(SweepRun(run_name(point, seed), point, seed, config))
    check_shared([run.config for run in runs], spec.overrides)
    return runs


def run_name(point: dict[str, str], seed: int) -> str:
    parts = [f"{key.split('.')[-1]}={value}" for key, value in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", "_".join([*parts, f"seed={seed}"]))


def run_sweep(
    spec: SweepSpec,
    out_dir: Path,
    launcher: Launcher | None = None,
    data_dir: Path | None = None,
    on_done: Callable[[SweepRun, str], None] | None = None,
) -> list[SweepRun]:
    """Train every missing run of `spec` under out_dir/runs (default: local processes); returns all runs."""
    runs = expand(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_same_sweep(spec, out_dir)
    todo = [r for r in runs if not RunDir(out_dir / "runs" / r.name).is_finished(planned_steps(r.config))]
    report = on_done or (lambda run, what: None)
    for run in runs:
        if run not in todo:
            report(run, "already finished")
    if todo:  # nothing to train: start no processes and no Ray instance
        (launcher or LocalLauncher()).launch(todo, out_dir / "runs", data_dir, report)
    return runs


def planned_steps(config: RunConfig) -> int | None:
    """The steps a run of `config` trains; None when it counts epochs (its run directory knows them)."""
    return None if config.train.max_epochs else config.train.max_steps


RUN_DEFINING = ("preset", "grid", "seeds", "overrides")  # budget fractions only change the summaries


def recorded_sweep(out_dir: Path, name: str = "") -> SweepSpec | None:
    """The sweep out_dir/sweep.json records, or None before a sweep has run there."""
    record = out_dir / "sweep.json"
    return SweepSpec.from_dict(_read_record(record), name) if record.exists() else None


def check_same_sweep(spec: SweepSpec, out_dir: Path, record_it: bool = True) -> None:
    """Refuse to mix two different sweeps in one folder; record the sweep on first use."""
    record = out_dir / "sweep.json"
    if record.exists():
        previous = _read_record(record)
        if any(previous.get(key) != spec.to_dict()[key] for key in RUN_DEFINING):
            raise LmlabError(
                f"{out_dir} holds a different sweep (see {record}); pick another --out or repeat its "
                "exact arguments to continue it"
            )
        return
    if record_it:
        record.write_text(json.dumps(spec.to_dict(), indent=2))


def _read_record(record: Path) -> dict:
    fix = "restore it from a copy or sweep into another --out"
    try:
        raw = json.loads(record.read_text())
    except json.JSONDecodeError:
        raise LmlabError(f"{record} is not valid JSON; {fix}") from None
    if not isinstance(raw, dict) or "preset" not in raw:
        raise LmlabError(f"{record} does not describe a sweep; {fix}")
    return raw
