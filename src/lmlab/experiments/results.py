"""A finished sweep's results: summary metrics per grid point (and budget fraction)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmlab.experiments.held_out import held_out_scores
from lmlab.experiments.summary import Aggregate, aggregate, groups_of, summarize_run
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
    batch_size: int = 0  # B: sequences per optimizer step
    steps: int = 0  # T: the training steps the summaries count (α·max_steps, or fewer if cut short)
    groups: dict[str, dict[str, Aggregate]] = field(default_factory=dict)  # e.g. "order3" -> its metrics

    @property
    def compute(self) -> int:
        """C ≈ P·B·T, the arithmetic assignment's estimate of non-embedding training compute."""
        return self.parameters * self.batch_size * self.steps


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
        config = run_dirs[0].config()
        parameters = count_parameters(build_model(config.model)).non_embedding
        max_steps = runs[0].config.train.max_steps
        last = max((c[-1]["step"] for c in curves if c), default=0)
        groups = sorted({g for c in curves for g in groups_of(c)})
        for budget in spec.budget_fractions:
            limit = math.floor(budget * max_steps + 1e-9)  # 0.29 · 100 is 28.99…: still step 29
            summaries = [summarize_run(c, max_step=limit) for c in curves]
            if budget == 1.0:  # SCAN: add the test split's scores of each run's best checkpoint
                finished = [d for d in run_dirs if d.metrics_file.exists()]
                for summary, run_dir in zip(summaries, finished, strict=True):
                    summary.update(held_out_scores(run_dir))
            by_group = {g: aggregate([summarize_run(c, limit, group=g) for c in curves]) for g in groups}
            steps = min(limit, last)
            result = PointResult(
                dict(point_items),
                budget,
                parameters,
                aggregate(summaries),
                curves,
                config.train.sequences_per_step,
                steps,
                by_group,
            )
            results.append(result)
    return results
