"""A comparison written out: OUT/results.md (a Markdown table), OUT/results.json and OUT/loss.png."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from lmlab.experiments.compare import ComparisonRow, entry_slug
from lmlab.plots.curves import plot_loss_curves
from lmlab.runs.run_dir import RunDir


@dataclass(frozen=True)
class ComparisonFiles:
    table: Path  # results.md
    results: Path  # results.json
    plot: Path  # loss.png: every run's training curves


def comparison_markdown(rows: list[ComparisonRow]) -> str:
    """A Markdown table, the lowest val bits per character (or the best exact match) in bold.

    Text runs report val loss per token and bits per character; only the latter compares runs with
    different tokenizers.
    """
    if all(r.test_exact_match is not None for r in rows):
        return _pairs_markdown(rows)
    best = min(r.val_bits_per_char for r in rows)
    lines = [
        "| run | kind | tokenizer | parameters | steps | seconds | val loss/token | val bits/char "
        "| sample (temperature 0.8, two lines) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        bits = f"{r.val_bits_per_char:.4f}"
        bits = f"**{bits}**" if r.val_bits_per_char == best else bits
        sample = r.sample.replace("|", "\\|")
        lines.append(
            f"| `{r.entry}` | {r.kind} | {r.tokenizer} | {r.parameters:,} | {r.steps} | {r.seconds:.1f} "
            f"| {r.val_loss:.4f} | {bits} | {sample} |"
        )
    return "\n".join(lines) + "\n"


def _pairs_markdown(rows: list[ComparisonRow]) -> str:
    best_loss = min(r.val_loss for r in rows)
    best_match = max(r.test_exact_match for r in rows)
    lines = [
        "| run | parameters | steps | epochs | s/epoch | val loss | test exact match | test token accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        loss = f"**{r.val_loss:.4f}**" if r.val_loss == best_loss else f"{r.val_loss:.4f}"
        match = f"{100 * r.test_exact_match:.2f}%"
        match = f"**{match}**" if r.test_exact_match == best_match else match
        lines.append(
            f"| `{r.entry}` | {r.parameters:,} | {r.steps} | {r.epochs:g} | {r.seconds_per_epoch:.1f} "
            f"| {loss} | {match} | {100 * r.test_token_accuracy:.2f}% |"
        )
    return "\n".join(lines) + "\n"


def write_comparison(rows: list[ComparisonRow], out_dir: Path) -> ComparisonFiles:
    """results.json, results.md and loss.png in out_dir, whose out_dir/<entry_slug> hold the runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ComparisonFiles(out_dir / "results.md", out_dir / "results.json", out_dir / "loss.png")
    files.results.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    files.table.write_text(comparison_markdown(rows))
    plot_loss_curves({r.entry: RunDir(out_dir / entry_slug(r.entry)).metrics() for r in rows}, files.plot)
    return files
