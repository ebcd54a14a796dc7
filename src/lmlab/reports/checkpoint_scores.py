"""Each kept checkpoint (best, last, and the one asked for) scored exactly, as one table row.

Text: loss, perplexity and bits per character over the whole validation split (as `lmlab eval`).
Pair tasks: exact match and token accuracy of greedy decoding on the test split (as `lmlab eval`).
The training curve's estimate at the same step (a few random batches) sits beside the exact figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmlab.data.corpus import Corpus
from lmlab.data.pairs import PairTask
from lmlab.evaluation.text_scores import score_text_split, target_characters
from lmlab.evaluation.translation import TranslationReport, evaluate_translation
from lmlab.reports.document import Table
from lmlab.reports.tables import Cell, Column
from lmlab.runs.run_dir import RunDir, load_model

TEXT_BATCH_SIZE = 64  # sequences per forward pass, as `lmlab eval`


@dataclass(frozen=True)
class Checkpoint:
    names: tuple[str, ...]  # what RunDir.checkpoint takes: ("best", "last") when both hold these weights
    step: int

    @property
    def label(self) -> str:
        return " = ".join(self.names)


def checkpoints(run: RunDir, asked: str) -> list[Checkpoint]:
    """best, last and `asked`, each step once (best and last are often the same weights)."""
    found: dict[int, tuple[str, ...]] = {}
    for which in dict.fromkeys(["best", "last", asked]):
        step = run.checkpoint_step(which)
        if step is not None:
            found[step] = (*found.get(step, ()), which)
    return [Checkpoint(names, step) for step, names in sorted(found.items())]


def text_scores(
    run: RunDir, corpus: Corpus, kept: list[Checkpoint], metrics: list[dict[str, Any]], device: str
) -> Table:
    """Whole-validation-split loss, perplexity and bits per character of every checkpoint."""
    val = corpus.split("val")
    characters = target_characters(corpus.tokenizer, val)
    rows = []
    for checkpoint in kept:
        config, _, model = load_model(run, checkpoint.names[0], device)
        on = next(model.parameters()).device
        score = score_text_split(model, corpus.tokenizer, val, config.model.block_size, TEXT_BATCH_SIZE, on)
        estimate = _at_step(metrics, checkpoint.step, "val_loss")
        rows.append(
            [
                Cell(checkpoint.label),
                Cell(f"{checkpoint.step:,}"),
                _number(estimate, "{:.4f}"),
                Cell(f"{score.loss:.4f}", score.loss),
                Cell(f"{score.perplexity:.3f}", score.perplexity),
                Cell(f"{score.bits_per_character:.4f}", score.bits_per_character),
            ]
        )
    columns = [
        Column("checkpoint"),
        Column("step", align="r"),
        Column("val loss (estimate)", "min"),
        Column("val loss (whole split)", "min"),
        Column("perplexity", "min"),
        Column("bits/char", "min"),
    ]
    caption = (
        f"Checkpoints scored on the whole validation split ({len(val) - 1:,} tokens, {characters:,} "
        "characters), each target once; loss in nats per token. The estimate is the training curve's "
        "mean over a few random batches. Best of each column in bold."
    )
    return _without_empty_columns(Table(caption, columns, rows))


def pair_scores(
    run: RunDir, task: PairTask, kept: list[Checkpoint], metrics: list[dict[str, Any]], device: str
) -> tuple[Table, dict[int, TranslationReport]]:
    """Exact match and token accuracy of every checkpoint on the held-out split (test; val for arithmetic,
    which has none); also each one's decoded report, by step."""
    held_out = task.held_out
    rows, reports = [], {}
    for checkpoint in kept:
        _, tokenizer, model = load_model(run, checkpoint.names[0], device)
        report = evaluate_translation(model, tokenizer, task.split(held_out), held_out)
        reports[checkpoint.step] = report
        rows.append(
            [
                Cell(checkpoint.label),
                Cell(f"{checkpoint.step:,}"),
                _number(_at_step(metrics, checkpoint.step, "val_loss"), "{:.4f}"),
                _number(_at_step(metrics, checkpoint.step, "val_acc"), "{:.2%}"),
                Cell(f"{report.exact_match:.2%}", report.exact_match),
                Cell(f"{report.token_accuracy:.2%}", report.token_accuracy),
            ]
        )
    columns = [
        Column("checkpoint"),
        Column("step", align="r"),
        Column("val loss", "min"),
        Column("val accuracy", "max"),
        Column(f"{held_out} exact match", "max"),
        Column(f"{held_out} token accuracy", "max"),
    ]
    caption = (
        f"Checkpoints on {task.name}: val loss and accuracy (every target token right, teacher-forced) "
        f"as recorded in training; exact match and token accuracy of greedy decoding on the "
        f"{len(task.split(held_out)):,} {held_out} pairs. Best of each column in bold."
    )
    return _without_empty_columns(Table(caption, columns, rows)), reports


def _at_step(metrics: list[dict[str, Any]], step: int, field: str) -> float | None:
    return next((r[field] for r in metrics if r["step"] == step and field in r), None)


def _number(value: float | None, form: str) -> Cell:
    """A metric cell, or a dash when the run recorded no value at that step."""
    return Cell("–") if value is None else Cell(form.format(value), value)


def _without_empty_columns(table: Table) -> Table:
    """Drop metric columns the run never recorded (SCAN runs record no accuracy during training)."""
    keep = [
        j
        for j, c in enumerate(table.columns)
        if c.best is None or any(r[j].value is not None for r in table.rows)
    ]
    return Table(table.caption, [table.columns[j] for j in keep], [[r[j] for j in keep] for r in table.rows])
