"""The attention grid of one input: n_layer rows × n_head columns of heatmaps, tokens on both axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_attention_grid(attentions: torch.Tensor, tokens: list[str], title: str, out: Path) -> Path:
    """attentions (n_layer, n_head, T, T) of one sequence; row = query (attending), column = key."""
    n_layer, n_head, T, _ = attentions.shape
    assert len(tokens) == T, "one label per position"
    labels = [_visible(t) for t in tokens]
    size = max(2.2, 0.32 * T)
    fig, axes = plt.subplots(
        n_layer, n_head, figsize=(size * n_head + 1.5, size * n_layer + 1), squeeze=False
    )
    image = None
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            image = ax.imshow(
                attentions[layer, head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis"
            )
            ax.set_xticks(range(T), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(T), labels, fontsize=7)
            ax.set_title(f"layer {layer}, head {head}", fontsize=9)
            if layer == n_layer - 1:
                ax.set_xlabel("key (attended to)")
            if head == 0:
                ax.set_ylabel("query (attending)")
    return _finish(fig, axes, image, title, out, shrink=0.8, dpi=110)


def plot_attention_over_training(
    frames: list[tuple[str, torch.Tensor]], tokens: list[str], title: str, out: Path
) -> Path:
    """One row per (label, attentions (n_layer, n_head, T, T)) frame, one column per (layer, head)."""
    n_layer, n_head, T, _ = frames[0][1].shape
    assert len(tokens) == T, "one label per position"
    labels = [_visible(t) for t in tokens]
    size = max(1.8, 0.22 * T)
    n_cols = n_layer * n_head
    fig, axes = plt.subplots(
        len(frames), n_cols, figsize=(size * n_cols + 1.5, size * len(frames) + 1), squeeze=False
    )
    image = None
    for row, (label, attentions) in enumerate(frames):
        for col in range(n_cols):
            layer, head = divmod(col, n_head)
            ax = axes[row][col]
            image = ax.imshow(
                attentions[layer, head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis"
            )
            show_keys, show_queries = row == len(frames) - 1, col == 0
            ax.set_xticks(range(T), labels if show_keys else [], rotation=90, fontsize=6)
            ax.set_yticks(range(T), labels if show_queries else [], fontsize=6)
            if row == 0:
                ax.set_title(f"layer {layer}, head {head}", fontsize=8)
            if show_queries:
                ax.set_ylabel(f"{label}\nquery", fontsize=8)
            if show_keys:
                ax.set_xlabel("key", fontsize=8)
    return _finish(fig, axes, image, title, out, shrink=0.6, dpi=100)


def _finish(fig, axes, image, title: str, out: Path, shrink: float, dpi: int) -> Path:
    """One colour bar for every heatmap (all share 0..1), the title, and the PNG written."""
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=shrink, label="attention weight")
    fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out


def _visible(token: str) -> str:
    """Whitespace characters as escapes, so every label can be seen."""
    return repr(token)[1:-1] if token.isspace() or token == "" else token
