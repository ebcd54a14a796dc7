"""Modular arithmetic (the arithmetic assignment; Power et al. 2022): every equation `a ∘ b = r` over Z_p.

Each equation is a pair: source `a ∘ b =` and target `r`, so a sequence reads
`<s> a ∘ b = r </s>` and the loss counts only the right-hand side `r </s>` (assignment 002, problem 3).
Order 3 chains two operations left to right: `a ∘ b ∘ c = ((a ∘ b) ∘ c)`. Division multiplies by
the modular inverse (p prime, divisors non-zero). With orders 2 and 3 mixed, the shorter sequences
are padded in the batch.

The train/val split takes a seeded `r_train` share of each order on its own (assignment 002, question 4),
so both orders appear in both splits in the same proportion. Positions of "=" (0-based, in the
target sequence, as the arithmetic assignment's `eq_positions`): 3 for order 2, 5 for order 3.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from lmlab.config import DataConfig
from lmlab.data.scan import Pair
from lmlab.tokenizers.word import WordTokenizer

APPLY: dict[str, Callable[[int, int, int], int]] = {
    "+": lambda a, b, p: (a + b) % p,
    "-": lambda a, b, p: (a - b) % p,
    "*": lambda a, b, p: (a * b) % p,
    "/": lambda a, b, p: (a * pow(b, -1, p)) % p,
}


def equations(p: int, operator: str, order: int) -> list[Pair]:
    """Every (source, target) of `order` operands: p^order equations, (p-1)^(order-1) p for division."""
    apply = APPLY[operator]
    right_operands = range(1, p) if operator == "/" else range(p)
    pairs = []
    for first, *rest in itertools.product(range(p), *[right_operands] * (order - 1)):
        result = first
        for operand in rest:
            result = apply(result, operand, p)
        source = f" {operator} ".join(str(n) for n in (first, *rest)) + " ="
        pairs.append((source, str(result)))
    return pairs


def order_of(source: str) -> int:
    """Operands in a source: `3 + 4 =` -> 2."""
    return len(source.split()) // 2


def equals_position(source: str) -> int:
    """Index of "=" among the targets (the sequence shifted by one): 3 for `a + b =`, 5 for order 3."""
    return len(source.split()) - 1


def split_equations(config: DataConfig) -> tuple[list[Pair], list[Pair]]:
    """(train, val): a seeded r_train share of each order's equations trains, the rest validates."""
    rng = random.Random(config.split_seed)
    train, val = [], []
    for order in config.orders:
        pairs = equations(config.p, config.operator, order)
        rng.shuffle(pairs)
        n_train = int(config.r_train * len(pairs))
        train += pairs[:n_train]
        val += pairs[n_train:]
    return train, val


def arithmetic_tokenizer(p: int, operator: str) -> WordTokenizer:
    """Specials, then 0 … p-1 in order, the operator and "=": p + 6 tokens."""
    return WordTokenizer([*(str(n) for n in range(p)), operator, "="])


def order_group(source: str) -> str:
    """The metrics group of an equation: "order2" or "order3"."""
    return f"order{order_of(source)}"
