"""Bar charts of exact match by action-sequence length and by command length."""

from __future__ import annotations

from pathlib import Path

from lmlab.plots.figures import Figure, check_format, save_figure, text


def breakdown_figure(report) -> Figure:
    """Returns a Figure of two panels (target length, source length) of a TranslationReport; each bar
    is labelled with its number of test pairs."""
    fig = Figure(figsize=(13, 4.2))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.3]})
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
        text(
            f"{report.split}: exact match {report.exact_match:.1%} ({report.decoding}); "
            "numbers above bars = pairs"
        )
    )
    fig.tight_layout()
    return fig


def plot_breakdown(report, out: Path) -> Path:
    """Writes breakdown_figure(report) to out (PNG, PDF, ...); returns out."""
    check_format(out)  # before drawing: a bad extension costs nothing
    return save_figure(breakdown_figure(report), out, dpi=120)
