"""Bar charts of exact match by action-sequence length and by command length."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_breakdown(report, out: Path) -> Path:
    """One PNG, two panels; each bar is labelled with its number of test pairs."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.3]})
    panels = (("target", "action-sequence length (actions)"), ("source", "command length (words)"))
    for ax, (of, label) in zip(axes, panels, strict=True):
        buckets = report.by_length(of)
        positions = list(range(len(buckets)))  # one bar per length present, labelled with the length
        bars = ax.bar(positions, [100 * b.exact_match for b in buckets], color="tab:blue")
        ax.set_xticks(positions, [str(b.length) for b in buckets])
        for bar, b in zip(bars, buckets, strict=True):
            ax.annotate(
                str(b.count),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                color="dimgray",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("exact match (%)")
        ax.set_ylim(0, 108)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(
        f"{report.split}: exact match {report.exact_match:.1%} ({report.decoding}); "
        "numbers above bars = pairs"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
