"""Figures of a sweep: curves coloured by the swept value, and summary metrics against it.

The last grid key is the one on the colour bar (curves) or x axis (summaries); every combination of
the other keys gets its own figure (curves) or line (summaries). Curves are the mean over seeds with
a band of ± one standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import cm, colors
from matplotlib.figure import Figure

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import LABELS
from lmlab.experiments.sweep import SweepSpec
from lmlab.plots.figures import check_format, save_figure, text

CURVE_PANELS = [
    ("train_loss", "train loss L_train(t)", True),
    ("val_loss", "val loss L_val(t)", True),
    ("param_norm", "parameter norm ‖θ‖₂", False),
    ("train_acc", "train accuracy A_train(t)", False),
    ("val_acc", "val accuracy A_val(t)", False),
]
SUMMARY_PANELS = ["L_train", "L_val", "A_train", "A_val", "tf_L_train", "tf_L_val", "tf_A_train", "tf_A_val"]
DPI = 110  # every sweep figure, as PNG


def sweep_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns every figure the sweep supports, keyed by file stem (curves..., summary..., and
    summary_vs_parameters when the points differ in size)."""
    full = [r for r in results if r.budget == 1.0] or results
    figures = curves_figures(spec, full)
    x_key, _ = _keys(spec)
    if x_key is not None and _numeric(spec.grid[x_key]) is not None:  # e.g. preset=a,b has no x axis
        figures |= summary_figures(spec, results)
    if len({r.parameters for r in full}) > 1:
        figures["summary_vs_parameters"] = parameters_figure(spec, full)
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
    return [save_figure(fig, out_dir / f"{stem}.png", dpi=DPI) for stem, fig in figures.items()]


def _keys(spec: SweepSpec) -> tuple[str | None, list[str]]:
    keys = list(spec.grid)
    return (keys[-1], keys[:-1]) if keys else (None, [])


def _groups(results: list[PointResult], keys: list[str]) -> dict[tuple[str, ...], list[PointResult]]:
    groups: dict[tuple[str, ...], list[PointResult]] = {}
    for r in results:
        groups.setdefault(tuple(r.point[k] for k in keys), []).append(r)
    return groups


def _short(key: str) -> str:
    return key.split(".")[-1]


def _label(keys: list[str], values: tuple[str, ...]) -> str:
    return ", ".join(f"{_short(k)}={v}" for k, v in zip(keys, values, strict=True))


def _numeric(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _colour_scale(key: str, values: list[float], log2: bool):
    """(a value -> colour function, the ScalarMappable for the colour bar)."""
    low, high = min(values), max(values)
    if log2:
        norm = colors.LogNorm(vmin=low, vmax=high if high > low else low * 2)
    else:
        norm = colors.Normalize(vmin=low, vmax=high if high > low else low + 1)
    mappable = cm.ScalarMappable(norm=norm, cmap="viridis")
    return (lambda v: mappable.to_rgba(v)), mappable


def _mean_curve(curves: list[list[dict]], field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, mean, std) over seeds at the steps every seed recorded."""
    series = [{r["step"]: r[field] for r in c if field in r} for c in curves]
    if not series or not all(series):
        return None
    steps = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[t] for t in steps] for s in series])
    return np.array(steps), values.mean(axis=0), values.std(axis=0)


def curves_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns figures of train/val loss, ‖θ‖₂ and train/val accuracy against step, keyed by file stem:
    one per combination of the other keys, one colour per value of the last key (a colour bar when it
    is numeric). Each has a 3-wide grid of axes, plus the colour bar's."""
    colour_key, other_keys = _keys(spec)
    figures = {}
    for values, group in _groups(results, other_keys).items():
        panels = [p for p in CURVE_PANELS if any(_mean_curve(r.curves, p[0]) for r in group)]
        n_cols = 3
        n_rows = math.ceil(len(panels) / n_cols)
        fig = Figure(figsize=(15, 4.4 * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
        numbers = _numeric([r.point[colour_key] for r in group]) if colour_key else None
        colour_of, mappable = (None, None)
        if colour_key and numbers is not None:
            colour_of, mappable = _colour_scale(colour_key, numbers, colour_key in LOG2_KEYS)
        for ax, (field, title, log_y) in zip(axes.flat, panels, strict=False):
            for i, r in enumerate(group):
                curve = _mean_curve(r.curves, field)
                if curve is None:
                    continue
                steps, mean, std = curve
                if colour_of is not None:
                    colour, label = colour_of(float(r.point[colour_key])), None
                else:
                    colour = f"C{i % 10}"
                    label = text(f"{_short(colour_key)}={r.point[colour_key]}") if colour_key else None
                ax.plot(steps, mean, color=colour, label=label, linewidth=1.2)
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
        if mappable is not None:
            bar = fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.9)
            bar.set_label(text(_short(colour_key)) + (" (log2 scale)" if colour_key in LOG2_KEYS else ""))
        seeds = ", ".join(str(s) for s in spec.seeds)
        where = f" ({_label(other_keys, values)})" if other_keys else ""
        fig.suptitle(text(f"{spec.name}{where}: curves, mean ± std over seeds {seeds}"))
        name = "curves" + (
            "_" + "_".join(f"{_short(k)}={v}" for k, v in zip(other_keys, values, strict=True))
            if other_keys
            else ""
        )
        figures[name] = fig
    return figures


def summary_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns figures of the summary metrics against the last key's value (log y for losses), keyed by
    file stem, each with 2 × 4 axes (plus a colour bar's). One line per combination of the other keys;
    with several budget fractions α, one figure per combination and α on a colour bar."""
    x_key, other_keys = _keys(spec)
    assert x_key is not None
    by_budget = len(spec.budget_fractions) > 1
    groups = _groups(results, other_keys) if by_budget else {(): results}
    figures = {}
    for values, group in groups.items():
        fig = Figure(figsize=(18, 8.5), layout="constrained")
        axes = fig.subplots(2, 4, squeeze=False)
        if by_budget:
            lines = {(b,): [r for r in group if r.budget == b] for b in spec.budget_fractions}
            colour_of, mappable = _colour_scale("α", list(spec.budget_fractions), False)
        else:
            lines, colour_of, mappable = _groups(group, other_keys), None, None
        for ax, metric in zip(axes.flat, SUMMARY_PANELS, strict=True):
            for i, (line_key, members) in enumerate(lines.items()):
                members = [m for m in members if metric in m.metrics]
                xs = _numeric([m.point[x_key] for m in members])
                if not members or xs is None:
                    continue
                order = np.argsort(xs)
                x = np.array(xs)[order]
                y = np.array([members[j].metrics[metric].mean for j in order])
                err = np.array([members[j].metrics[metric].std for j in order])
                colour = colour_of(line_key[0]) if colour_of else f"C{i % 10}"
                label = None if by_budget else text(_label(other_keys, line_key) or spec.name)
                ax.errorbar(x, y, yerr=err, color=colour, marker="o", markersize=3, capsize=2, label=label)
            ax.set_title(LABELS[metric])
            ax.set_xlabel(text(_short(x_key)))
            ax.set_ylabel(LABELS[metric] + (" (steps)" if metric.startswith("tf_") else ""))
            if x_key in LOG2_KEYS:
                ax.set_xscale("log", base=2)
            if metric.startswith("L_"):
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if not by_budget and len(lines) > 1:
                ax.legend(fontsize=8)
        if mappable is not None:
            fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.9).set_label("budget fraction α")
        where = f" ({_label(other_keys, values)})" if by_budget and other_keys else ""
        fig.suptitle(
            text(
                f"{spec.name}{where}: best value over training (and the step reaching it) against "
                f"{_short(x_key)}, mean ± std over seeds"
            )
        )
        name = "summary" + (
            "_" + "_".join(f"{_short(k)}={v}" for k, v in zip(other_keys, values, strict=True))
            if by_budget and other_keys
            else ""
        )
        figures[name] = fig
    return figures


def parameters_figure(spec: SweepSpec, results: list[PointResult]) -> Figure:
    """Returns a Figure (2 × 4 axes) of the summary metrics against non-embedding parameter count
    (log x), one series per preset."""
    series = _groups(results, [PRESET] if PRESET in spec.grid else [])
    fig = Figure(figsize=(18, 8.5), layout="constrained")
    axes = fig.subplots(2, 4, squeeze=False)
    for ax, metric in zip(axes.flat, SUMMARY_PANELS, strict=True):
        for i, (key, members) in enumerate(series.items()):
            members = sorted((m for m in members if metric in m.metrics), key=lambda m: m.parameters)
            ax.errorbar(
                [m.parameters for m in members],
                [m.metrics[metric].mean for m in members],
                yerr=[m.metrics[metric].std for m in members],
                color=f"C{i % 10}",
                marker="o",
                markersize=3,
                capsize=2,
                linestyle="none",
                label=text(key[0] if key else spec.name),
            )
        ax.set_xscale("log")
        if metric.startswith("L_"):
            ax.set_yscale("log")
        ax.set_title(LABELS[metric])
        ax.set_xlabel("non-embedding parameters P")
        ax.set_ylabel(LABELS[metric])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(text(f"{spec.name}: summary metrics against model size (non-embedding parameters)"))
    return fig


PRESET = "preset"
LOG2_KEYS = ("model.n_embd", "model.hidden_size", "train.batch_size")  # assignment 002: log2 axes for d and B
