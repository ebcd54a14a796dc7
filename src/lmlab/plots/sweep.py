"""Figures of a sweep: curves coloured by the swept value, and summary metrics against it.

The last grid key is the one on the colour bar (curves) or x axis (summaries); every combination of
the other keys gets its own figure of curves (lmlab.plots.sweep_summary says how summaries split).
Curves are the mean over seeds with a band of ± one standard deviation. Runs that score groups apart
(binary and ternary equations, `data.operation_orders=2,3`) get a figure of each group's curves too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import groups_of
from lmlab.experiments.sweep import SweepSpec
from lmlab.plots.figures import Figure, check_format, group_title, save_figure, text
from lmlab.plots.held_out import held_out_figure
from lmlab.plots.scales import LOG2_KEYS, colour_bar, colour_scale, is_log2, numeric
from lmlab.plots.sweep_keys import group_by, keys_of, label, short, stem
from lmlab.plots.sweep_summary import PANELS as SUMMARY_PANELS
from lmlab.plots.sweep_summary import parameters_figure, summary_figures

CURVE_PANELS = [
    ("train_loss", "train loss L_train(t)", True),
    ("val_loss", "val loss L_val(t)", True),
    ("param_norm", "parameter norm ‖θ‖₂", False),
    ("train_acc", "train accuracy A_train(t)", False),
    ("val_acc", "val accuracy A_val(t)", False),
]
DPI = 110  # every sweep figure, as PNG
__all__ = ["LOG2_KEYS", "SUMMARY_PANELS", "curves_figures", "parameters_figure", "summary_figures"]


def sweep_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns every figure the sweep supports, keyed by file stem (curves..., summary..., and
    summary_vs_parameters when the points differ in size)."""
    full = [r for r in results if r.budget == 1.0] or results
    figures = curves_figures(spec, full)
    x_key, _ = keys_of(spec)
    if x_key is not None and numeric(spec.grid[x_key]) is not None:  # e.g. preset=a,b has no x axis
        figures |= summary_figures(spec, results)
    if len({r.parameters for r in full}) > 1:
        figures["summary_vs_parameters"] = parameters_figure(spec, full)
    if any("E_test" in r.metrics for r in full):  # SCAN: the test split of each best checkpoint
        figures["test"] = held_out_figure(spec, full)
    return figures


def plot_sweep(spec: SweepSpec, results: list[PointResult], out_dir: Path) -> list[Path]:
    """Writes sweep_figures(spec, results) to out_dir as STEM.png; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return _save_all(sweep_figures(spec, results), out_dir)


def plot_curves(spec: SweepSpec, results: list[PointResult], out_dir: Path) -> list[Path]:
    """Writes curves_figures(spec, results) to out_dir as STEM.png; returns their paths."""
    return _save_all(curves_figures(spec, results), out_dir)


def plot_summaries(spec: SweepSpec, results: list[PointResult], out_dir: Path) -> list[Path]:
    """Writes summary_figures(spec, results) to out_dir as STEM.png; returns their paths."""
    return _save_all(summary_figures(spec, results), out_dir)


def plot_against_parameters(spec: SweepSpec, results: list[PointResult], out: Path) -> Path:
    """Writes parameters_figure(spec, results) to out; returns out."""
    check_format(out)  # before drawing: a bad extension costs nothing
    return save_figure(parameters_figure(spec, results), out, dpi=DPI)


def _save_all(figures: dict[str, Figure], out_dir: Path) -> list[Path]:
    return [save_figure(fig, out_dir / f"{name}.png", dpi=DPI) for name, fig in figures.items()]


def _mean_curve(curves: list[list[dict]], field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, mean, std) over seeds at the steps every seed recorded."""
    series = [{r["step"]: r[field] for r in c if field in r} for c in curves]
    if not series or not all(series):
        return None
    steps = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[t] for t in steps] for s in series])
    return np.array(steps), values.mean(axis=0), values.std(axis=0)


def _group_panels(group: str) -> list[tuple[str, str, bool]]:
    """The train/val loss and accuracy panels of one group's fields (e.g. val_acc_order3)."""
    return [
        (f"{field}_{group}", title, log_y) for field, title, log_y in CURVE_PANELS if field != "param_norm"
    ]


def curves_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns figures of train/val loss, ‖θ‖₂ and train/val accuracy against step, keyed by file stem:
    one per combination of the other keys, one colour per value of the last key (a colour bar when it
    is numeric). Each has a 3-wide grid of axes, plus the colour bar's. A run scoring groups apart adds
    a figure per group (stem curves_order2, ...) of that group's loss and accuracy on 2 × 2 axes."""
    _, other_keys = keys_of(spec)
    figures = {}
    for values, group in group_by(results, other_keys).items():
        figures[stem("curves", other_keys, values)] = _curves_figure(spec, group, values, CURVE_PANELS, 3)
        for name in sorted({g for r in group for c in r.curves for g in groups_of(c)}):
            figure = _curves_figure(spec, group, values, _group_panels(name), 2, group_title(name))
            figures[stem(f"curves_{name}", other_keys, values)] = figure
    return figures


def _curves_figure(
    spec: SweepSpec,
    group: list[PointResult],
    values: tuple[str, ...],
    panels: list[tuple[str, str, bool]],
    n_cols: int,
    subset: str = "",
) -> Figure:
    colour_key, other_keys = keys_of(spec)
    panels = [p for p in panels if any(_mean_curve(r.curves, p[0]) for r in group)]
    n_rows = max(1, math.ceil(len(panels) / n_cols))
    fig = Figure(figsize=(5 * n_cols, 4.4 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    numbers = numeric([r.point[colour_key] for r in group]) if colour_key else None
    colour_of = mappable = None
    log2 = bool(colour_key and numbers and is_log2(colour_key, numbers))
    if colour_key and numbers is not None:
        colour_of, mappable = colour_scale(numbers, log2)
    for ax, (field, title, log_y) in zip(axes.flat, panels, strict=False):
        for i, r in enumerate(group):
            curve = _mean_curve(r.curves, field)
            if curve is None:
                continue
            steps, mean, std = curve
            if colour_of is not None:
                colour, line_label = colour_of(float(r.point[colour_key])), None
            else:
                colour = f"C{i % 10}"
                line_label = text(f"{short(colour_key)}={r.point[colour_key]}") if colour_key else None
            ax.plot(steps, mean, color=colour, label=line_label, linewidth=1.2)
            ax.fill_between(steps, mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)
        ax.set_title(title)
        ax.set_xlabel("training step t")
        ax.set_ylabel(title.split(" L_")[0].split(" A_")[0])
        if log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if colour_of is None and colour_key:
            ax.legend(fontsize=8)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    if mappable is not None and numbers is not None:
        colour_bar(fig, mappable, axes.ravel().tolist(), short(colour_key), numbers, log2)
    seeds = ", ".join(str(s) for s in spec.seeds)
    where = f" ({label(other_keys, values)})" if other_keys else ""
    what = f"{subset} curves" if subset else "curves"
    fig.suptitle(text(f"{spec.name}{where}: {what}, mean ± std over seeds {seeds}"))
    return fig
