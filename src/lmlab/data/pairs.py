"""Pair tasks: (source, target) pairs split into train / val / test, with their word tokenizer.

SCAN: the test set comes from the task (a named split, or --test-file). The validation set is a
seeded `1 - train_fraction` share of the training pairs, or with `data.val_min_actions` = N > 0
every training pair of N or more actions (the longest held out, for a length split; train keeps
the shorter ones): it picks the best checkpoint, so the test set is never looked at during training.
Arithmetic: all equations split into train and val by `r_train`, as in the arithmetic assignment;
there is no test split, so final scores decode val (`PairTask.held_out`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmlab.config import DataConfig
from lmlab.data import arithmetic, scan
from lmlab.data.scan import Pair
from lmlab.data.seq2seq import longest_lengths
from lmlab.errors import LmlabError
from lmlab.tokenizers.word import WordTokenizer

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class PairTask:
    name: str  # e.g. "SCAN simple" or the train file's name
    origin: str  # where the pairs came from, for the log
    train: list[Pair]
    val: list[Pair]
    test: list[Pair]
    tokenizer: WordTokenizer
    group: Callable[[str], str] | None = None  # source -> a label metrics are broken down by, if any
    source_name: str = "command"  # what the log calls sources and targets
    target_name: str = "action sequence"
    warning: str = ""  # one line training logs loudly and eval prints, e.g. "not the official split"
    selection: str = ""  # how the validation pairs were chosen from the training pairs, for the log

    @property
    def source(self) -> str:
        """What data.source="auto" resolved to: official or generated (a train file counts as official)."""
        return "generated" if self.origin.startswith("generated") else "official"

    @property
    def held_out(self) -> str:
        """The split final scores decode: test, or val for a task without one (arithmetic)."""
        return "test" if self.test else "val"

    def split(self, name: str) -> list[Pair]:
        if name not in SPLIT_NAMES:
            raise LmlabError(f"split {name!r} is unknown; choose one of {', '.join(SPLIT_NAMES)}")
        if name == "test" and not self.test:
            raise LmlabError(f"{self.name} has no test split: its held-out pairs are the val split; use val")
        return getattr(self, name)

    def longest(self) -> tuple[int, int]:
        """(longest source, longest target) in words over every split."""
        return longest_lengths([*self.train, *self.val, *self.test])

    def describe(self) -> list[str]:
        longest_source, longest_target = self.longest()
        return [
            f"{self.name} ({self.origin}): {len(self.train):,} train, {len(self.val):,} val, "
            + (f"{len(self.test):,} test pairs" if self.test else "no test pairs (val is held out)"),
            *([self.selection] if self.selection else []),
            f"vocabulary ({self.tokenizer.vocab_size} tokens): {' '.join(self.tokenizer.tokens)}",
            f"longest {self.source_name} {longest_source} words, "
            f"longest {self.target_name} {longest_target}; "
            f"longest sequence <s> source target </s> = {longest_source + longest_target + 2} tokens",
        ]


def load_pair_task(
    config: DataConfig, data_dir: Path | None = None, tokenizer: WordTokenizer | None = None
) -> PairTask:
    """Read the configured pairs, hold out the validation share and fit (or reuse) the tokenizer."""
    if config.dataset == "arithmetic":
        return _arithmetic_task(config, tokenizer)
    if config.train_file:
        train_path = Path(config.train_file).expanduser()
        pairs = _nonempty(scan.read_pairs(train_path), train_path)
        test = (
            _nonempty(scan.read_pairs(Path(config.test_file).expanduser()), config.test_file)
            if (config.test_file)
            else []
        )
        name, origin = train_path.name, str(train_path)
    else:
        pairs, test, origin = scan.load_split(config.scan_split, config.source, data_dir, config.split_seed)
        name = f"SCAN {config.scan_split}"
    train, val, selection = _hold_out(pairs, config)
    test = test or val  # a train file alone: the held-out pairs stand in for a test set
    tokenizer = tokenizer or WordTokenizer.fit([text for pair in [*pairs, *test] for text in pair])
    seeded = not config.train_file and config.split == "simple" and origin.startswith("generated")
    warning = scan.generated_simple_warning(config.split_seed) if seeded else ""
    return PairTask(name, origin, train, val, test, tokenizer, warning=warning, selection=selection)


def _hold_out(pairs: list[Pair], config: DataConfig) -> tuple[list[Pair], list[Pair], str]:
    """(train, val, how val was chosen): the training pairs of at least data.val_min_actions actions
    validate, or a seeded 1 - train_fraction share of them. The same pairs in any order give the same
    split."""
    ordered = sorted(pairs)
    if config.val_min_actions:
        least = config.val_min_actions
        lengths = [len(actions.split()) for _, actions in ordered]
        train = [pair for pair, length in zip(ordered, lengths, strict=True) if length < least]
        val = [pair for pair, length in zip(ordered, lengths, strict=True) if length >= least]
        if not val or not train:
            shortest, longest = min(lengths), max(lengths)
            fix = (
                f"set it from {shortest + 1} to {longest}"
                if shortest < longest
                else "no length divides them; use data.val_min_actions=0 (a random share)"
            )
            raise LmlabError(
                f"data.val_min_actions={least} holds out {'none' if not val else 'all'} of the "
                f"{len(ordered):,} training pairs ({shortest} to {longest} actions); {fix}"
            )
        selection = (
            f"val: the {len(val):,} training pairs of {least} or more actions, the longest held out "
            f"(data.val_min_actions={least}); train: the {len(train):,} of at most {least - 1}"
        )
        return train, val, selection
    random.Random(config.split_seed).shuffle(ordered)
    n_train = int(round(config.train_fraction * len(ordered)))
    if n_train == len(ordered) or n_train == 0:
        raise LmlabError(
            f"{len(ordered)} training pairs leave no validation (or no training) pairs at "
            f"data.train_fraction={config.train_fraction}; give more pairs or change the fraction"
        )
    selection = (
        f"val: a random {len(ordered) - n_train:,} of the {len(ordered):,} training pairs "
        f"(data.train_fraction={config.train_fraction:g}, data.split_seed={config.split_seed})"
    )
    return ordered[:n_train], ordered[n_train:], selection


def _arithmetic_task(config: DataConfig, tokenizer: WordTokenizer | None) -> PairTask:
    train, val = arithmetic.split_equations(config)
    if not train:
        raise LmlabError(
            f"data.r_train={config.r_train} leaves none of the {len(val)} equations to train on; raise it"
        )
    orders = "+".join(str(order) for order in config.orders)
    name = f"arithmetic mod {config.p} ({config.operator}, order {orders}, r_train {config.r_train:g})"
    tokenizer = tokenizer or arithmetic.arithmetic_tokenizer(config.p, config.operator)
    return PairTask(
        name,
        "generated",
        train,
        val,
        [],  # no test split: the val equations are the held-out ones
        tokenizer,
        arithmetic.order_group,
        "left-hand side",
        "right-hand side",
    )


def _nonempty(pairs: list[Pair], path) -> list[Pair]:
    if not pairs:
        raise LmlabError(f"{path} holds no 'IN: ... OUT: ...' lines; give a SCAN-format file")
    return pairs
