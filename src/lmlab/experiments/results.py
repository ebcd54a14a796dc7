"""A finished sweep's results: summary metrics per grid point (and budget fraction)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlab.experiments.summary import Aggregate, aggregate, summarize_run
from lmlab.experiments.sweep import SweepRun, SweepSpec, expand
from lmlab.models import build_model
from lmlab.models.params import count_parameters
from lmlab.runs.run_dir import RunDir


@dataclass(frozen=True)
class PointResult:
    """One grid point at one budget fraction, over its seeds."""

    point: dict[str, str]
    budget: float  # α: only steps <= α·max_steps count
    parameters: int  # non-embedding parameters (token and position tables excluded), assignment 002's P
    metrics: dict[str, Aggregate]
    curves: list[list[dict[str, Any]]]  # each seed's metrics records (all steps)


def collect(spec: SweepSpec, out_dir: Path) -> list[PointResult]:
    """Summaries of every grid point that has finished runs, for every budget fraction."""
    by_point: dict[tuple, list[SweepRun]] = {}
    for run in expand(spec):
        by_point.setdefault(tuple(run.point.items()), []).append(run)
    results = []
    for point_items, runs in by_point.items():
        run_dirs = [RunDir(out_dir / "runs" / r.name) for r in runs]
        curves = [d.metrics() for d in run_dirs if d.metrics_file.exists()]
        if not curves:
            continue
        parameters = count_parameters(build_model(run_dirs[0].config().model)).non_embedding
        max_steps = runs[0].config.train.max_steps
        for budget in spec.budget_fractions:
            summaries = [summarize_run(c, max_step=budget * max_steps) for c in curves]
            results.append(PointResult(dict(point_items), budget, parameters, aggregate(summaries), curves))
    return results
