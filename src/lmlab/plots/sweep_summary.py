"""Summary metrics of a sweep (best over training, and the step reaching it) against the swept value,
and against model size.

One figure per combination of the keys before the last, except the one a colour bar takes: α when
several budget fractions are given (the arithmetic assignment's question 6), else the key just
before the last when it is numeric (the number of layers L against width d, question 5). A point
that some seed never reached (t_f of an accuracy below the threshold) is left out.
"""

from __future__ import annotations

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import LABELS
from lmlab.experiments.sweep import SweepSpec
from lmlab.plots.figures import Figure, text
from lmlab.plots.scales import colour_bar, colour_scale, is_log2, numeric, swept_x_axis
from lmlab.plots.sweep_keys import PRESET, group_by, keys_of, label, short, stem

PANELS = ["L_train", "L_val", "A_train", "A_val", "tf_L_train", "tf_L_val", "tf_A_train", "tf_A_val"]
Line = tuple[str | tuple, str | None, list[PointResult]]  # (colour, legend label, members)


def _reached(members: list[PointResult], metric: str) -> list[PointResult]:
    return [m for m in members if metric in m.metrics and not m.metrics[metric].unreached]


def summary_figures(spec: SweepSpec, results: list[PointResult]) -> dict[str, Figure]:
    """Returns figures of the summary metrics against the last key's value (log y for losses; log2 x
    for widths and batch sizes), keyed by file stem, each with 2 × 4 axes (plus a colour bar's)."""
    x_key, other_keys = keys_of(spec)
    assert x_key is not None
    by_budget = len(spec.budget_fractions) > 1
    colour_key = None
    if not by_budget and other_keys and numeric([r.point[other_keys[-1]] for r in results]) is not None:
        colour_key = other_keys[-1]
    figure_keys = other_keys if by_budget else other_keys[:-1] if colour_key else []
    xs = numeric([r.point[x_key] for r in results]) or []
    log2_x = is_log2(x_key, xs)
    figures = {}
    for values, group in group_by(results, figure_keys).items():
        fig = Figure(figsize=(18, 8.5), layout="constrained")
        axes = fig.subplots(2, 4, squeeze=False)
        lines, bar = _lines(spec, group, other_keys, colour_key, by_budget)
        for ax, metric in zip(axes.flat, PANELS, strict=True):
            for colour, line_label, members in lines:
                members = _reached(members, metric)
                if not members:
                    continue
                members.sort(key=lambda m: float(m.point[x_key]))
                ax.errorbar(
                    [float(m.point[x_key]) for m in members],
                    [m.metrics[metric].mean for m in members],
                    yerr=[m.metrics[metric].std for m in members],
                    color=colour,
                    marker="o",
                    markersize=3,
                    capsize=2,
                    label=line_label,
                )
            ax.set_title(LABELS[metric])
            ax.set_xlabel(text(short(x_key)))
            ax.set_ylabel(LABELS[metric] + (" (steps)" if metric.startswith("tf_") else ""))
            swept_x_axis(ax, xs, log2_x)
            if metric.startswith("L_"):
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if bar is None and len(lines) > 1:
                ax.legend(fontsize=8)
        if bar is not None:
            mappable, bar_label, bar_values, log2 = bar
            colour_bar(fig, mappable, axes.ravel().tolist(), bar_label, bar_values, log2)
        where = f" ({label(figure_keys, values)})" if figure_keys else ""
        fig.suptitle(
            text(
                f"{spec.name}{where}: best value over training (and the step reaching it) against "
                f"{short(x_key)}, mean ± std over seeds"
            )
        )
        figures[stem("summary", figure_keys, values)] = fig
    return figures


def _lines(spec: SweepSpec, group: list[PointResult], other_keys: list[str], colour_key, by_budget):
    """The lines of one summary figure, and (mappable, label, values, log2) for its colour bar or None."""
    if by_budget:
        colour_of, mappable = colour_scale(spec.budget_fractions, log2=False)
        lines: list[Line] = [
            (colour_of(b), None, [r for r in group if r.budget == b]) for b in spec.budget_fractions
        ]
        return lines, (mappable, "budget fraction α", spec.budget_fractions, False)
    if colour_key is not None:
        numbers = [float(r.point[colour_key]) for r in group]
        log2 = is_log2(colour_key, numbers)
        colour_of, mappable = colour_scale(numbers, log2)
        by_value = group_by(group, [colour_key])
        lines = [(colour_of(float(v)), None, members) for (v,), members in by_value.items()]
        return lines, (mappable, short(colour_key), numbers, log2)
    lines = [
        (f"C{i % 10}", text(label(other_keys, key) or spec.name), members)
        for i, (key, members) in enumerate(group_by(group, other_keys).items())
    ]
    return lines, None


def parameters_figure(spec: SweepSpec, results: list[PointResult]) -> Figure:
    """Returns a Figure (2 × 4 axes) of the summary metrics against non-embedding parameter count
    (log x), one series per preset."""
    series = group_by(results, [PRESET] if PRESET in spec.grid else [])
    fig = Figure(figsize=(18, 8.5), layout="constrained")
    axes = fig.subplots(2, 4, squeeze=False)
    for ax, metric in zip(axes.flat, PANELS, strict=True):
        for i, (key, members) in enumerate(series.items()):
            members = sorted(_reached(members, metric), key=lambda m: m.parameters)
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
