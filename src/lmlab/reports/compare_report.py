"""The report of a comparison (`lmlab compare --out DIR`): the table of results.md, every entry's
training curves on one figure, and each entry's own short summary.

Scores are the ones `lmlab compare` recorded in results.json (each run's best checkpoint on the whole
validation split); the curves are redrawn from the runs into `folder`, so they match the runs on disk.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.experiments.compare import ComparisonRow, entry_slug
from lmlab.plots.curves import plot_loss_curves
from lmlab.reports.comparison import comparison_table, value_text
from lmlab.reports.document import Figure, Item, Paragraph, Report, Section, Table, key_value_table
from lmlab.reports.run_report import best_of_curves, duration, model_text
from lmlab.runs.run_dir import RunDir


def is_comparison(path: Path) -> bool:
    """What `lmlab compare --out` writes (a pair-task eval folder has results.json but no results.md)."""
    return (path / "results.json").is_file() and (path / "results.md").is_file()


def load_rows(path: Path) -> list[ComparisonRow]:
    """The rows of path/results.json; fields a newer lmlab added and this one lacks are left out."""
    known = {f.name for f in dataclasses.fields(ComparisonRow)}
    try:
        records = json.loads((path / "results.json").read_text(encoding="utf-8"))
        rows = [ComparisonRow(**{k: v for k, v in r.items() if k in known}) for r in records]
    except (ValueError, TypeError, AttributeError):  # not JSON, not a list of rows, a field missing
        raise LmlabError(
            f"{path / 'results.json'} is not a comparison's results; "
            f"run `lmlab compare ... --out {path}` again"
        ) from None
    if not rows:
        raise LmlabError(f"{path / 'results.json'} lists no runs; run `lmlab compare ... --out {path}` again")
    return rows


def compare_report(path: Path, folder: Path) -> Report:
    """Every section of the comparison's report; figures are written into `folder`."""
    rows = load_rows(path)
    runs = {r.entry: _run(path, r.entry) for r in rows}
    curves = {entry: records for entry, run in runs.items() if (records := run.metrics())}
    columns, cells = comparison_table(rows)
    summary: list[Item] = [Table(_caption(rows), columns, cells)]
    sections = [
        Section("summary", "Summary", summary),
        Section("curves", "Training curves", _curves(path, curves, folder)),
        Section("entries", "Every entry", [_entry_table(row, runs[row.entry], curves) for row in rows]),
    ]
    name = path.resolve().name
    subtitle = (
        f"Comparison {name} ({path}): {len(rows)} entries trained alike by `lmlab compare`, scored at "
        "their best checkpoints as recorded in results.json."
    )
    return Report(f"lmlab report: comparison {name}", subtitle, sections)


def _run(path: Path, entry: str) -> RunDir:
    run = RunDir(path / entry_slug(entry))
    if not run.config_file.is_file():
        raise LmlabError(
            f"{run.path} has no config.json: entry {entry!r}'s run is missing; "
            f"run `lmlab compare ... --out {path}` again to retrain it"
        )
    return run


def _caption(rows: list[ComparisonRow]) -> str:
    """What the columns of results.md mean, for the kinds of task in `rows`."""
    text = any(r.exact_match is None for r in rows)
    pairs = any(r.exact_match is not None for r in rows)
    parts = ["Every entry's best checkpoint on the whole validation split, as in results.md"]
    if text:
        parts.append(
            "text runs: loss in nats per token and bits per character (only bits per character compares "
            "tokenizers), and the first lines of a sample at temperature 0.8"
        )
    if pairs:
        parts.append("pair tasks: exact match and token accuracy of greedy decoding on the held-out split")
    if any(r.hyperparameters for r in rows):
        parts.append("between parameters and steps, the config keys whose values differ between the entries")
    mixed = " A dash marks a column of the other kind of task." if text and pairs else ""
    return "; ".join(parts) + f". Best in bold.{mixed}"


def _curves(path: Path, curves: dict[str, list[dict]], folder: Path) -> list[Item]:
    if not curves:
        return [Paragraph("No entry recorded an evaluation yet.")]
    png, pdf = folder / "curves.png", folder / "curves.pdf"
    for out in (png, pdf):
        plot_loss_curves(curves, out, title=f"{path.resolve().name}: every entry")
    caption = (
        "Every entry's train (dashed) and validation (solid) loss in nats per token, estimated on a few "
        "batches during training."
    )
    return [Figure(caption, png, pdf)]


def _entry_table(row: ComparisonRow, run: RunDir, curves: dict[str, list[dict]]) -> Table:
    """One entry in a few lines: what it is, what it changed, how long it trained and how well."""
    config = run.config()
    pairs = [("run", str(run.path.name)), ("preset", config.preset), ("model", model_text(config))]
    if row.hyperparameters:
        changed = ", ".join(f"{key}={value_text(value)}" for key, value in row.hyperparameters.items())
        pairs.append(("differs from the others", changed))
    if row.tokenizer:
        pairs.append(("tokenizer", row.tokenizer))
    pairs += [
        ("parameters", f"{row.parameters:,} ({row.non_embedding:,} non-embedding)"),
        ("steps", f"{row.steps:,} of {config.train.max_steps:,}"),
        ("tokens seen", f"{row.tokens:,}"),
        ("training time (no evaluations)", duration(row.seconds)),
    ]
    if row.epochs is not None:
        pairs.append(("epochs", f"{row.epochs:g}"))
    if row.entry in curves:
        pairs += best_of_curves(curves[row.entry])
    if row.exact_match is None:
        scores = f"{row.val_loss:.4f} nats per token"
        if row.val_bits_per_char is not None:
            scores += f", {row.val_bits_per_char:.4f} bits per character"
        pairs.append(("val loss (whole split, best checkpoint)", scores))
    else:
        match = f"{row.exact_match:.2%} (token accuracy {_percent(row.token_accuracy)}, greedy decoding)"
        pairs += [
            ("val loss (best checkpoint)", f"{row.val_loss:.4f}"),
            (f"{row.scored_split} exact match", match),
        ]
    return key_value_table(f"Entry {row.entry}.", pairs, ("quantity", "value"))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"
