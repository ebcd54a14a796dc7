"""What a checkpoint produces: samples at a few temperatures, test predictions, SCAN's error
breakdown by length, and the attention grid on one prompt. Each function returns report items."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lmlab.evaluation.translation import TranslationReport
from lmlab.generation.stop import generate_texts
from lmlab.inspect.attention import attention_map
from lmlab.inspect.prompt import read_prompt
from lmlab.plots.attention import plot_attention_grid
from lmlab.plots.breakdown import plot_breakdown
from lmlab.reports.document import Figure, Item, Paragraph, Table, Verbatim
from lmlab.reports.tables import Cell, Column
from lmlab.tokenizers import Tokenizer

PREDICTIONS_SHOWN = 8  # wrong test predictions listed in the report


def samples(
    model: nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    temperatures: tuple[float, ...],
    seed: int,
    max_new_tokens: int,
) -> list[Item]:
    """One sample per temperature, each from a generator seeded with `seed`: the same run gives the
    same report on the same kind of device."""
    device = next(model.parameters()).device
    prompt_ids, _ = read_prompt(tokenizer, prompt, False).fit(model.context_size).tensors(device)
    items: list[Item] = []
    for temperature in temperatures:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        (text,) = generate_texts(
            model, tokenizer, prompt_ids, 1, max_new_tokens, temperature=temperature, generator=generator
        )
        items.append(
            Verbatim(f"Temperature {temperature:g}, seed {seed}, {max_new_tokens} tokens", prompt + text)
        )
    return items


def predictions(report: TranslationReport) -> list[Item]:
    """A few wrong test predictions (or right ones when none is wrong), command above both outputs."""
    wrong = report.wrong
    shown = (wrong or report.examples)[:PREDICTIONS_SHOWN]
    blocks = [f"{e.source}\n  expected:  {e.reference}\n  predicted: {e.prediction}" for e in shown]
    n = len(report.examples)
    summary = (
        f"{len(wrong):,} of {n:,} {report.split} predictions are wrong "
        f"(exact match {report.exact_match:.2%}, "
        f"token accuracy {report.token_accuracy:.2%}, {report.decoding} decoding)."
    )
    return [
        Paragraph(summary),
        Verbatim(
            f"The first {len(shown)} wrong {report.split} predictions"
            if wrong
            else f"The first {len(shown)} {report.split} predictions (all right)",
            "\n\n".join(blocks),
        ),
    ]


def scan_breakdown(report: TranslationReport, folder: Path) -> list[Item]:
    """Exact match by action-sequence length and by command length: the chart and both tables."""
    png, pdf = folder / "scan_breakdown.png", folder / "scan_breakdown.pdf"
    plot_breakdown(report, png)
    plot_breakdown(report, pdf)
    items: list[Item] = [
        Figure(
            f"Exact match on the test split by length ({report.decoding} decoding); numbers: pairs.", png, pdf
        )
    ]
    for of, title in (("target", "action-sequence length"), ("source", "command length (words)")):
        columns = [Column(name, align="r") for name in (title, "pairs", "correct", "exact match")]
        rows = [
            [Cell(str(b.length)), Cell(f"{b.count:,}"), Cell(f"{b.correct:,}"), Cell(f"{b.exact_match:.1%}")]
            for b in report.by_length(of)
        ]
        items.append(Table(f"Exact match on the test split by {title}.", columns, rows))
    return items


def attention(
    model: nn.Module, tokenizer: Tokenizer, prompt: str, is_pair_task: bool, title: str, folder: Path
) -> list[Item]:
    """The grid of every layer's and head's attention on `prompt`, PNG and PDF."""
    found = attention_map(model, tokenizer, prompt, is_pair_task)
    shown = found.text
    heading = (
        f"{title}: attention on {shown!r}; next token {found.next_token!r} (p = {found.probability:.3f})"
    )
    png, pdf = folder / "attention.png", folder / "attention.pdf"
    plot_attention_grid(found.attentions, found.tokens, heading, png)
    plot_attention_grid(found.attentions, found.tokens, heading, pdf)
    caption = (
        f"Attention of every layer (rows) and head (columns) on {shown!r}: row = the query position "
        f"attending, column = the key attended to. The likeliest next token is {found.next_token!r} "
        f"(p = {found.probability:.3f})."
    )
    return [Figure(caption, png, pdf)]
