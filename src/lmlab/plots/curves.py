"""Loss curves of one or several runs on one figure, with accuracy beside them when runs record it,
and a row of each for every group the runs score apart (binary and ternary equations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from lmlab.errors import LmlabError
from lmlab.experiments.summary import groups_of
from lmlab.plots.figures import Figure, check_format, group_title, save_figure, text

X_AXES = {"step": "step", "epoch": "epoch (passes over the train split)", "tokens": "tokens seen"}


def loss_curves_figure(
    runs: dict[str, list[dict[str, Any]]],
    title: str | None = None,
    *,
    train_losses: dict[str, list[dict[str, Any]]] | None = None,
    x: str = "step",
) -> Figure:
    """Returns a Figure of train (dashed) and val (solid) loss against `x`; one colour per run.

    `runs` maps a label to its metrics records. Runs of pair tasks also record accuracy (every target
    token right): it gets a second panel, so the figure has one axes or two per row. Runs that score
    groups apart (`val_acc_order2`, ...: the arithmetic assignment's binary and ternary equations) get
    a row per group below the row over every example. `train_losses` maps a
    label to its per-step {"step", "loss"} records (RunDir.train_losses), drawn thin and light beneath
    the evaluations. `x` is step, tokens, or epoch (runs of pair tasks only).
    """
    _check_x(runs, x)
    with_accuracy = any("val_acc" in r for records in runs.values() for r in records)
    groups = sorted({g for records in runs.values() for g in groups_of(records)})
    fig = Figure(figsize=(14 if with_accuracy else 8, 5 * (1 + len(groups))))
    axes = fig.subplots(1 + len(groups), 2 if with_accuracy else 1, squeeze=False)
    panels = [("loss", "loss (nats per token)")] + (
        [("acc", "accuracy (whole target right)")] if with_accuracy else []
    )
    for row, group in zip(axes, ["", *groups], strict=True):
        suffix = f"_{group}" if group else ""
        for ax, (metric, label) in zip(row, panels, strict=True):
            for i, (name, records) in enumerate(runs.items()):
                colour = f"C{i % 10}"
                if metric == "loss" and not group and (train_losses or {}).get(name):
                    _per_step(ax, records, train_losses[name], x, colour, name)
                for split, style in (("train", "--"), ("val", "-")):
                    field = f"{split}_{metric}{suffix}"
                    points = [(r[x], r[field]) for r in records if field in r]
                    if points:
                        steps, values = zip(*points, strict=True)
                        ax.plot(steps, values, style, color=colour, label=text(f"{name} {split}"))
            ax.set_xlabel(X_AXES[x])
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            ax.legend()
        where = f": {group_title(group)} equations" if group else ""
        row[0].set_title(f"Training and validation loss{where}")
        if with_accuracy:
            row[1].set_title(f"Training and validation accuracy{where}")
    fig.suptitle(text(title or ", ".join(runs)))
    fig.tight_layout()
    return fig


def plot_loss_curves(
    runs: dict[str, list[dict[str, Any]]],
    out: Path,
    title: str | None = None,
    *,
    train_losses: dict[str, list[dict[str, Any]]] | None = None,
    x: str = "step",
) -> Path:
    """Writes loss_curves_figure(runs, title, ...) to out (any format matplotlib writes); returns out."""
    check_format(out)  # before drawing: a bad extension costs nothing
    _check_x(runs, x)
    return save_figure(loss_curves_figure(runs, title, train_losses=train_losses, x=x), out, dpi=120)


def _check_x(runs: dict[str, list[dict[str, Any]]], x: str) -> None:
    if x not in X_AXES:
        raise LmlabError(f"cannot plot against {x!r}; choose one of {', '.join(X_AXES)}")
    no_epochs = [name for name, records in runs.items() if any("epoch" not in r for r in records)]
    if x == "epoch" and no_epochs:
        raise LmlabError(
            f"run {no_epochs[0]} reads a text corpus in random windows and has no epochs; plot against "
            "step or tokens"
        )


def _per_step(
    ax: Axes, records: list[dict[str, Any]], losses: list[dict[str, Any]], x: str, colour: str, name: str
) -> None:
    """The loss of every training step, thin and light beneath the evaluations. Against epoch or tokens,
    a step's position is interpolated between the evaluations around it (steps after the last are left
    out: they have no position yet)."""
    steps = np.array([r["step"] for r in losses], dtype=float)
    values = np.array([r["loss"] for r in losses], dtype=float)
    if x != "step":
        if not records:
            return
        known = np.array([r["step"] for r in records], dtype=float)
        inside = steps <= known.max()
        steps = np.interp(steps[inside], known, np.array([r[x] for r in records], dtype=float))
        values = values[inside]
    label = text(f"{name} train, each step")
    ax.plot(steps, values, "-", color=colour, linewidth=0.5, alpha=0.35, zorder=1, label=label)
