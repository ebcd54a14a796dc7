"""A comparison written out: OUT/results.md (a Markdown table), OUT/results.json and OUT/loss.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from lmlab.experiments.compare import ComparisonRow, entry_slug
from lmlab.plots.curves import plot_loss_curves
from lmlab.runs.run_dir import RunDir

NOT_APPLICABLE = "–"  # a column of the other kind of task (text or pairs)
Cell = Callable[[ComparisonRow], str | None]  # None: the column does not apply to this row


@dataclass(frozen=True)
class ComparisonFiles:
    table: Path  # results.md
    results: Path  # results.json
    plot: Path  # loss.png: every run's training curves


def comparison_markdown(rows: list[ComparisonRow]) -> str:
    """A Markdown table, the lowest val bits per character and the best exact match in bold; after the
    parameters, a column per config key whose value differs between the runs (e.g. model.n_layer).

    Text runs report val loss per token and bits per character; only the latter compares runs with
    different tokenizers. Pair tasks report epochs and exact match. Text and pair runs may share a
    table: a column that does not apply to a row shows "–".
    """
    columns = _columns(
        [r for r in rows if r.exact_match is None], [r for r in rows if r.exact_match is not None]
    )
    lines = [
        "| " + " | ".join(header for header, _, _ in columns) + " |",
        "|" + "|".join(align for _, align, _ in columns) + "|",
    ]
    for r in rows:
        cells = [cell(r) for _, _, cell in columns]
        lines.append("| " + " | ".join(NOT_APPLICABLE if c is None else c for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _columns(text: list[ComparisonRow], pairs: list[ComparisonRow]) -> list[tuple[str, str, Cell]]:
    """(header, alignment, cell) of every column some row has: text columns, pair columns, or both."""
    best_bits = min((r.val_bits_per_char for r in text), default=None)
    best_match = max((r.exact_match for r in pairs), default=None)
    best_loss = None if text else min(r.val_loss for r in pairs)  # only one kind of task compares losses
    splits = {r.scored_split for r in pairs}
    split = f"{splits.pop()} " if len(splits) == 1 else ""  # "test exact match", or mixed splits
    left, right = "---", "---:"
    columns: list[tuple[str, str, Cell]] = [("run", left, lambda r: f"`{r.entry}`")]
    if text:
        columns += [("kind", left, lambda r: r.kind), ("tokenizer", left, lambda r: r.tokenizer or None)]
    columns.append(("parameters", right, lambda r: f"{r.parameters:,}"))
    columns += _hyperparameter_columns([*text, *pairs])
    columns.append(("steps", right, lambda r: str(r.steps)))
    if text:
        columns.append(("seconds", right, lambda r: f"{r.seconds:.1f}"))
    if pairs:
        columns += [
            ("epochs", right, lambda r: _number(r.epochs, "{:g}")),
            ("s/epoch", right, lambda r: _number(r.seconds_per_epoch, "{:.1f}")),
        ]
    columns.append(
        ("val loss/token" if text else "val loss", right, lambda r: _number(r.val_loss, "{:.4f}", best_loss))
    )
    if text:
        columns.append(("val bits/char", right, lambda r: _number(r.val_bits_per_char, "{:.4f}", best_bits)))
    if pairs:
        columns += [
            (f"{split}exact match", right, lambda r: _number(r.exact_match, "{:.2%}", best_match)),
            (f"{split}token accuracy", right, lambda r: _number(r.token_accuracy, "{:.2%}")),
        ]
    if text:
        sample = "sample (temperature 0.8, two lines)"
        columns.append(
            (sample, left, lambda r: None if r.exact_match is not None else r.sample.replace("|", "\\|"))
        )
    return columns


def _hyperparameter_columns(rows: list[ComparisonRow]) -> list[tuple[str, str, Cell]]:
    """A column per config key whose value differs between the runs (keys equal everywhere are left
    out): what the entries changed, e.g. model.n_layer or train.lr."""
    keys = list(dict.fromkeys(key for r in rows for key in r.hyperparameters))

    def cell(key: str) -> Cell:
        return lambda r: _value(r.hyperparameters[key]) if key in r.hyperparameters else None

    return [(key, "---", cell(key)) for key in keys]


def _value(value: object) -> str:
    """A config value as a table cell, as JSON writes it (true, null, "" for an empty string)."""
    if isinstance(value, bool) or value is None:
        shown = json.dumps(value)
    elif isinstance(value, str):
        shown = value if value else '""'
    else:
        shown = str(value)
    return shown.replace("|", "\\|")


def _number(value: float | None, form: str, best: float | None = None) -> str | None:
    """`value` formatted, in bold when it is the best; None when the row has no such value."""
    if value is None:
        return None
    shown = form.format(value)
    return f"**{shown}**" if value == best else shown


def write_comparison(rows: list[ComparisonRow], out_dir: Path) -> ComparisonFiles:
    """results.json, results.md and loss.png in out_dir, whose out_dir/<entry_slug> hold the runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ComparisonFiles(out_dir / "results.md", out_dir / "results.json", out_dir / "loss.png")
    files.results.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    files.table.write_text(comparison_markdown(rows))
    plot_loss_curves({r.entry: RunDir(out_dir / entry_slug(r.entry)).metrics() for r in rows}, files.plot)
    return files
