"""Colour bars and axes for swept numbers, ticked at the values swept (64, 128, 256), never at
matplotlib's decade ticks (7×10¹): widths and batch sizes on a log2 scale, as the arithmetic
assignment draws d and B; other numbers (layers, α, weight decay) on a linear one."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from matplotlib import cm, colors
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.ticker import NullLocator

from lmlab.plots.figures import Figure, text

LOG2_KEYS = ("model.n_embd", "model.hidden_size", "train.batch_size")  # d and B in the assignment


def numeric(values: Sequence[str]) -> list[float] | None:
    """The values as numbers, or None when one is not (e.g. preset names)."""
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def is_log2(key: str, values: Sequence[float]) -> bool:
    """Whether `key` goes on a log2 scale: a width or batch size, or 3+ distinct powers of two."""
    if key in LOG2_KEYS:
        return all(v > 0 for v in values)
    distinct = set(values)
    return len(distinct) >= 3 and all(v > 0 and math.log2(v).is_integer() for v in distinct)


def colour_scale(values: Sequence[float], log2: bool) -> tuple[Callable[[float], tuple], cm.ScalarMappable]:
    """(a value -> colour function, the ScalarMappable for the colour bar)."""
    low, high = min(values), max(values)
    if log2:
        norm = colors.LogNorm(vmin=low, vmax=high if high > low else low * 2)
    else:
        norm = colors.Normalize(vmin=low, vmax=high if high > low else low + 1)
    mappable = cm.ScalarMappable(norm=norm, cmap="viridis")
    return (lambda v: mappable.to_rgba(v)), mappable


def colour_bar(
    fig: Figure,
    mappable: cm.ScalarMappable,
    axes: list[Axes],
    label: str,
    values: Sequence[float],
    log2: bool,
) -> Colorbar:
    """A colour bar beside `axes`, ticked at the swept `values` only."""
    bar = fig.colorbar(mappable, ax=axes, shrink=0.9)
    ticks = sorted(set(values))
    bar.set_ticks(ticks, labels=[f"{v:g}" for v in ticks])
    bar.ax.yaxis.set_minor_locator(NullLocator())  # a log bar would add unlabelled decade subticks
    bar.set_label(text(label) + (" (log2 scale)" if log2 else ""))
    return bar


def swept_x_axis(ax: Axes, values: Sequence[float], log2: bool) -> None:
    """The x axis of a summary plot: log2 for widths and batch sizes, ticked at the swept values."""
    if log2:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_locator(NullLocator())
    ticks = sorted(set(values))
    ax.set_xticks(ticks, labels=[f"{v:g}" for v in ticks])
