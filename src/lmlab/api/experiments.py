"""`lmlab.compare()` and `lmlab.sweep()`: `lmlab compare` and `lmlab sweep` with results as objects whose
tables are DataFrames; the same files are written (results.md, summary.csv, plots)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlab.api.frames import data_frame
from lmlab.api.keywords import override_strings, value_text
from lmlab.api.run import Run
from lmlab.errors import LmlabError
from lmlab.experiments.compare import ComparisonRow, entry_slug
from lmlab.experiments.compare import compare as run_comparison
from lmlab.experiments.launchers import LocalLauncher
from lmlab.experiments.results import PointResult, collect
from lmlab.experiments.sweep import SweepSpec, check_same_sweep, run_sweep
from lmlab.plots.curves import loss_curves_figure
from lmlab.plots.figures import Figure
from lmlab.plots.sweep import plot_sweep
from lmlab.recipes import load_recipe
from lmlab.reports.comparison import ComparisonFiles, comparison_markdown, write_comparison
from lmlab.reports.sweep_tables import write_tables


@dataclass(frozen=True)
class Comparison:
    """The runs of `lmlab.compare()`, scored alike: `.table` has one row per entry."""

    out: Path
    rows: list[ComparisonRow]
    files: ComparisonFiles

    @property
    def table(self) -> Any:
        """A DataFrame: entry, kind, parameters, ..., val_loss, and a column per differing config key."""
        records = []
        for row in self.rows:
            record = dataclasses.asdict(row)
            record.update(record.pop("hyperparameters"))
            records.append(record)
        return data_frame(records).set_index("entry")

    @property
    def runs(self) -> dict[str, Run]:
        return {row.entry: Run(self.out / entry_slug(row.entry)) for row in self.rows}

    def plot(self, *, x: str = "step", title: str | None = None) -> Figure:
        """Every entry's loss curves on one Figure (the loss.png the comparison wrote)."""
        dirs = {entry: run.dir for entry, run in self.runs.items()}
        return loss_curves_figure(
            {entry: d.metrics() for entry, d in dirs.items()},
            title,
            train_losses={entry: d.train_losses() for entry, d in dirs.items()},
            x=x,
        )

    def _repr_markdown_(self) -> str:
        return comparison_markdown(self.rows)


def compare(
    entries: Sequence[str],
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Comparison:
    """Train (or reuse) each entry (`preset` or `preset:key=value,...`) in out/<entry>, then score them
    alike, as `lmlab compare`; overrides for every entry are SECTION__KEY=value keywords."""
    out = Path(out)
    rows = run_comparison(
        list(entries),
        override_strings("lmlab.compare", overrides),
        out,
        Path(data_dir) if data_dir is not None else None,
        progress=progress,
    )
    return Comparison(out, rows, write_comparison(rows, out))


@dataclass(frozen=True)
class Sweep:
    """A sweep's finished grid points: `.table` has one row per point (and budget, and group), every
    summary metric as its mean over seeds and `<metric>_std`."""

    out: Path
    spec: SweepSpec
    results: list[PointResult]
    tables: list[Path]  # summary.md, .csv, .tex
    figures: list[Path]  # plots/*.png

    @property
    def table(self) -> Any:
        records = []
        for result in self.results:
            groups = [("all", result.metrics), *result.groups.items()]
            for group, metrics in groups:
                record: dict[str, Any] = dict(result.point)
                if len(self.spec.budget_fractions) > 1:
                    record["budget"] = result.budget
                if len(groups) > 1:
                    record["group"] = group
                record.update(parameters=result.parameters, compute=result.compute)
                for name, value in metrics.items():
                    record[name], record[f"{name}_std"] = value.mean, value.std
                records.append(record)
        return data_frame(records)

    @property
    def runs(self) -> dict[str, Run]:
        folder = self.out / "runs"
        return {path.name: Run(path) for path in sorted(folder.iterdir()) if (path / "config.json").exists()}

    def _repr_markdown_(self) -> str:
        return self.tables[0].read_text()


def sweep(
    recipe: str,
    out: str | Path,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: Sequence[int] | None = None,
    budget_fractions: Sequence[float] | None = None,
    workers: int | None = None,
    data_dir: str | Path | None = None,
    **overrides: Any,
) -> Sweep:
    """Train every missing run of a recipe (or a preset: seeds only) in local processes, then write and
    return its tables and plots, as `lmlab sweep`. `grid` adds or replaces keys, e.g.
    `grid={"model.n_layer": [1, 2]}`; overrides for every run are SECTION__KEY=value keywords."""
    out = Path(out)
    spec = load_recipe(recipe)
    spec = dataclasses.replace(
        spec,
        grid={**spec.grid, **{key: [value_text(v) for v in values] for key, values in (grid or {}).items()}},
        seeds=tuple(seeds) if seeds is not None else spec.seeds,
        overrides=(*spec.overrides, *override_strings("lmlab.sweep", overrides)),
        budget_fractions=tuple(budget_fractions) if budget_fractions is not None else spec.budget_fractions,
    )
    run_sweep(spec, out, LocalLauncher(workers), data_dir=Path(data_dir) if data_dir is not None else None)
    check_same_sweep(spec, out, record_it=False)
    results = collect(spec, out)
    if not results:
        raise LmlabError(
            f"{out} has no finished runs of this sweep; check the logs in {out / 'runs'}/*/train.log"
        )
    return Sweep(
        out, spec, results, write_tables(spec, results, out), plot_sweep(spec, results, out / "plots")
    )
