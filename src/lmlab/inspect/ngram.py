"""How large a full n-gram table is beside a GPT's parameters (assignment 000, question 1).

A table P(x_n | x_1 … x_(n-1)) over |V| tokens has |V|^(n-1) contexts, each a row of |V| probabilities
that sums to 1: |V|^(n-1)·(|V|-1) free entries. A GPT conditions on its whole context with a fixed
number of parameters.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from lmlab.models.size import estimate_parameters
from lmlab.presets import load_preset

MAX_LOG10_ENTRIES = 300  # larger tables overflow a float (the ≈ column, entries per parameter)


@dataclass(frozen=True)
class NgramRow:
    n: int
    entries: int  # free entries of the table of order n
    per_parameter: float  # entries / the GPT's parameters


@dataclass(frozen=True)
class NgramTables:
    vocab_size: int
    preset: str  # the GPT compared
    gpt_parameters: int  # with this vocabulary
    context: int  # the GPT's block_size
    rows: list[NgramRow]  # n = 1 … max_n

    @property
    def context_exponent(self) -> float:
        """log10 of the entries of a table whose order is the GPT's context."""
        return log10_entries(self.vocab_size, self.context)


def table_entries(vocab_size: int, n: int) -> int:
    """Free entries of P(x_n | x_1 … x_(n-1)) over `vocab_size` tokens: |V|^(n-1)·(|V|-1)."""
    return vocab_size ** (n - 1) * (vocab_size - 1)


def log10_entries(vocab_size: int, n: int) -> float:
    """log10 of `table_entries`, computed without the power: (n-1)·log10|V| + log10(|V|-1)."""
    return (n - 1) * math.log10(vocab_size) + math.log10(vocab_size - 1)


def ngram_tables(vocab_size: int, max_n: int, preset: str = "shakespeare-char") -> NgramTables:
    """Table sizes for n = 1 … max_n beside the parameters of `preset`'s model with this vocabulary."""
    assert vocab_size >= 2 and max_n >= 1, (vocab_size, max_n)
    assert log10_entries(vocab_size, max_n) <= MAX_LOG10_ENTRIES, "the caller bounds the table"
    config = load_preset(preset)
    model_config = dataclasses.replace(config.model, vocab_size=vocab_size)
    gpt = estimate_parameters(model_config)  # arithmetic: a huge vocabulary allocates nothing
    rows = [
        NgramRow(n, table_entries(vocab_size, n), table_entries(vocab_size, n) / gpt)
        for n in range(1, max_n + 1)
    ]
    return NgramTables(vocab_size, preset, gpt, model_config.block_size, rows)
