"""The attention grid of one input: n_layer rows × n_head columns of heatmaps, tokens on both axes."""

from __future__ import annotations

from pathlib import Path

import torch

from lmlab.plots.figures import Figure, check_format, save_figure, text
from lmlab.tokenizers.labels import visible_token

GRID_DPI, OVER_TRAINING_DPI = 110, 100


def attention_grid_figure(attentions: torch.Tensor, tokens: list[str], title: str) -> Figure:
    """Returns a Figure of n_layer × n_head heatmaps and one colour bar (n_layer·n_head + 1 axes).

    attentions (n_layer, n_head, T, T) of one sequence; row = query (attending), column = key.
    """
    n_layer, n_head, T, _ = attentions.shape
    assert len(tokens) == T, "one label per position"
    labels = [_visible(t) for t in tokens]
    size = max(2.2, 0.32 * T)
    fig = Figure(figsize=(size * n_head + 1.5, size * n_layer + 1))
    axes = fig.subplots(n_layer, n_head, squeeze=False)
    image = None
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            image = ax.imshow(
                attentions[layer, head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis"
            )
            # every panel reads the same tokens: label the outer edges only, so no panel's labels run
            # into its neighbour's
            ax.set_xticks(range(T), labels if layer == n_layer - 1 else [], rotation=90, fontsize=7)
            ax.set_yticks(range(T), labels if head == 0 else [], fontsize=7)
            ax.set_title(f"layer {layer}, head {head}", fontsize=9)
            if layer == n_layer - 1:
                ax.set_xlabel("key (attended to)")
            if head == 0:
                ax.set_ylabel("query (attending)")
    return _finish(fig, axes, image, title, shrink=0.8)


def attention_over_training_figure(
    frames: list[tuple[str, torch.Tensor]], tokens: list[str], title: str
) -> Figure:
    """Returns a Figure with one row per (label, attentions (n_layer, n_head, T, T)) frame, one column
    per (layer, head), and one colour bar (len(frames)·n_layer·n_head + 1 axes)."""
    n_layer, n_head, T, _ = frames[0][1].shape
    assert len(tokens) == T, "one label per position"
    labels = [_visible(t) for t in tokens]
    size = max(1.8, 0.22 * T)
    n_cols = n_layer * n_head
    fig = Figure(figsize=(size * n_cols + 1.5, size * len(frames) + 1))
    axes = fig.subplots(len(frames), n_cols, squeeze=False)
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
                ax.set_ylabel(f"{text(label)}\nquery", fontsize=8)
            if show_keys:
                ax.set_xlabel("key", fontsize=8)
    return _finish(fig, axes, image, title, shrink=0.6)


def plot_attention_grid(attentions: torch.Tensor, tokens: list[str], title: str, out: Path) -> Path:
    """Writes attention_grid_figure(attentions, tokens, title) to out; returns out."""
    check_format(out)  # before drawing: a bad extension costs nothing
    figure = attention_grid_figure(attentions, tokens, title)
    return save_figure(figure, out, dpi=GRID_DPI, bbox_inches="tight")


def plot_attention_over_training(
    frames: list[tuple[str, torch.Tensor]], tokens: list[str], title: str, out: Path
) -> Path:
    """Writes attention_over_training_figure(frames, tokens, title) to out; returns out."""
    check_format(out)
    figure = attention_over_training_figure(frames, tokens, title)
    return save_figure(figure, out, dpi=OVER_TRAINING_DPI, bbox_inches="tight")


def _finish(fig: Figure, axes, image, title: str, shrink: float) -> Figure:
    """One colour bar for every heatmap (all share 0..1) and the title; returns fig."""
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=shrink, label="attention weight")
    fig.suptitle(text(title))
    return fig


def _visible(token: str) -> str:
    """Spaces as ␣, other whitespace as escapes: every label and word start can be seen; `$` as itself."""
    return text(visible_token(token))
