"""Loss curves of one or several runs on one figure, with accuracy beside them when runs record it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss_curves(runs: dict[str, list[dict[str, Any]]], out: Path, title: str | None = None) -> Path:
    """Train (dashed) and val (solid) loss against step; one colour per run. `runs`: label -> metrics.

    Runs of pair tasks also record accuracy (every target token right): it gets a second panel.
    """
    with_accuracy = any("val_acc" in r for records in runs.values() for r in records)
    fig, axes = plt.subplots(
        1, 2 if with_accuracy else 1, figsize=(14 if with_accuracy else 8, 5), squeeze=False
    )
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
                    ax.plot(steps, values, style, color=colour, label=f"{name} {split}")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[0][0].set_title("Training and validation loss")
    if with_accuracy:
        axes[0][1].set_title("Training and validation accuracy")
    fig.suptitle(title or ", ".join(runs))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
