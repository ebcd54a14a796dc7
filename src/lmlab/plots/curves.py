"""Loss curves of one or several runs on one figure, with accuracy beside them when runs record it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from lmlab.plots.figures import check_format, save_figure, text


def loss_curves_figure(runs: dict[str, list[dict[str, Any]]], title: str | None = None) -> Figure:
    """Returns a Figure of train (dashed) and val (solid) loss against step; one colour per run.

    `runs` maps a label to its metrics records. Runs of pair tasks also record accuracy (every target
    token right): it gets a second panel, so the figure has one axes or two.
    """
    with_accuracy = any("val_acc" in r for records in runs.values() for r in records)
    fig = Figure(figsize=(14 if with_accuracy else 8, 5))
    axes = fig.subplots(1, 2 if with_accuracy else 1, squeeze=False)
    panels = [("loss", "loss (nats per token)")] + (
        [("acc", "accuracy (whole target right)")] if with_accuracy else []
    )
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        for i, (name, records) in enumerate(runs.items()):
            colour = f"C{i % 10}"
            for split, style in (("train", "--"), ("val", "-")):
                points = [(r["step"], r[f"{split}_{metric}"]) for r in records if f"{split}_{metric}" in r]
                if points:
                    steps, values = zip(*points, strict=True)
                    ax.plot(steps, values, style, color=colour, label=text(f"{name} {split}"))
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[0][0].set_title("Training and validation loss")
    if with_accuracy:
        axes[0][1].set_title("Training and validation accuracy")
    fig.suptitle(text(title or ", ".join(runs)))
    fig.tight_layout()
    return fig


def plot_loss_curves(runs: dict[str, list[dict[str, Any]]], out: Path, title: str | None = None) -> Path:
    """Writes loss_curves_figure(runs, title) to out (any format matplotlib writes); returns out."""
    check_format(out)  # before drawing: a bad extension costs nothing
    return save_figure(loss_curves_figure(runs, title), out, dpi=120)
