"""Loss curves of one or several runs on one figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss_curves(runs: dict[str, list[dict[str, Any]]], out: Path, title: str | None = None) -> Path:
    """Train (dashed) and val (solid) loss against step; one colour per run. `runs`: label -> metrics."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (label, records) in enumerate(runs.items()):
        colour = f"C{i % 10}"
        steps = [r["step"] for r in records]
        ax.plot(steps, [r["train_loss"] for r in records], "--", color=colour, label=f"{label} train")
        ax.plot(steps, [r["val_loss"] for r in records], "-", color=colour, label=f"{label} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title or "Training and validation loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
