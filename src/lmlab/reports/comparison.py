"""A comparison written out: OUT/results.md (a Markdown table), OUT/results.json and OUT/loss.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from lmlab.experiments.compare import ComparisonRow, entry_slug
from lmlab.plots.curves import plot_loss_curves
from lmlab.reports.tables import Cell, Column, to_markdown
from lmlab.runs.run_dir import RunDir

NOT_APPLICABLE = "–"  # a column of the other kind of task (text or pairs)
Text = Callable[[ComparisonRow], str | None]  # None: the column does not apply to this row
Value = Callable[[ComparisonRow], float | None]


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
    columns, cells = comparison_table(rows)
    cells = [[Cell(f"`{row[0].text}`"), *row[1:]] for row in cells]  # the entry as code
    return to_markdown(columns, cells)


def comparison_table(rows: list[ComparisonRow]) -> tuple[list[Column], list[list[Cell]]]:
    """The columns and cells of results.md (entries unquoted), for the Markdown file and the report."""
    specs = _columns(
        [r for r in rows if r.exact_match is None], [r for r in rows if r.exact_match is not None]
    )
    columns = [Column(s.header, s.best, s.align) for s in specs]
    return columns, [[s.cell(r) for s in specs] for r in rows]


@dataclass(frozen=True)
class _Spec:
    header: str
    align: str  # "l" or "r"
    text: Text
    value: Value | None = None  # what `best` compares
    best: str | None = None  # "min" or "max": the best value in bold

    def cell(self, row: ComparisonRow) -> Cell:
        shown = self.text(row)
        return Cell(NOT_APPLICABLE if shown is None else shown, self.value(row) if self.value else None)


def _columns(text: list[ComparisonRow], pairs: list[ComparisonRow]) -> list[_Spec]:
    """Every column some row has: text columns, pair columns, or both."""
    splits = {r.scored_split for r in pairs}
    split = f"{splits.pop()} " if len(splits) == 1 else ""  # "test exact match", or mixed splits
    columns = [_Spec("run", "l", lambda r: r.entry)]
    if text:
        columns += [
            _Spec("kind", "l", lambda r: r.kind),
            _Spec("tokenizer", "l", lambda r: r.tokenizer or None),
        ]
    columns.append(_Spec("parameters", "r", lambda r: f"{r.parameters:,}"))
    columns += _hyperparameter_columns([*text, *pairs])
    columns.append(_Spec("steps", "r", lambda r: str(r.steps)))
    if text:
        columns.append(_Spec("seconds", "r", lambda r: f"{r.seconds:.1f}"))
    if pairs:
        columns += [
            _Spec("epochs", "r", lambda r: _number(r.epochs, "{:g}")),
            _Spec("s/epoch", "r", lambda r: _number(r.seconds_per_epoch, "{:.1f}")),
        ]
    columns.append(
        _Spec(
            "val loss/token" if text else "val loss",
            "r",
            lambda r: _number(r.val_loss, "{:.4f}"),
            lambda r: r.val_loss,
            None if text else "min",  # only one kind of task compares losses
        )
    )
    if text:
        bits = lambda r: _number(r.val_bits_per_char, "{:.4f}")  # noqa: E731
        columns.append(_Spec("val bits/char", "r", bits, lambda r: r.val_bits_per_char, "min"))
    if pairs:
        match = lambda r: _number(r.exact_match, "{:.2%}")  # noqa: E731
        columns += [
            _Spec(f"{split}exact match", "r", match, lambda r: r.exact_match, "max"),
            _Spec(f"{split}token accuracy", "r", lambda r: _number(r.token_accuracy, "{:.2%}")),
        ]
    if text:
        sample = "sample (temperature 0.8, two lines)"
        columns.append(_Spec(sample, "l", lambda r: None if r.exact_match is not None else r.sample))
    return columns


def _hyperparameter_columns(rows: list[ComparisonRow]) -> list[_Spec]:
    """A column per config key whose value differs between the runs (keys equal everywhere are left
    out): what the entries changed, e.g. model.n_layer or train.lr."""
    keys = list(dict.fromkeys(key for r in rows for key in r.hyperparameters))

    def cell(key: str) -> Text:
        return lambda r: value_text(r.hyperparameters[key]) if key in r.hyperparameters else None

    return [_Spec(key, "l", cell(key)) for key in keys]


def value_text(value: object) -> str:
    """A config value as a table cell, as JSON writes it (true, null, "" for an empty string)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return value if value else '""'
    return str(value)


def _number(value: float | None, form: str) -> str | None:
    """`value` formatted; None when the row has no such value."""
    return None if value is None else form.format(value)


def write_comparison(rows: list[ComparisonRow], out_dir: Path) -> ComparisonFiles:
    """results.json, results.md and loss.png in out_dir, whose out_dir/<entry_slug> hold the runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ComparisonFiles(out_dir / "results.md", out_dir / "results.json", out_dir / "loss.png")
    files.results.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    files.table.write_text(comparison_markdown(rows))
    plot_loss_curves({r.entry: RunDir(out_dir / entry_slug(r.entry)).metrics() for r in rows}, files.plot)
    return files
