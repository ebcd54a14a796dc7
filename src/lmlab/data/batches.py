"""Where training batches come from: windows of a running text, or padded (source, target) pairs.

Both sources give `Batch`es; the trainer and the loss estimate do not care which.
- CorpusBatches: windows of block_size tokens from the encoded corpus (one gather each), drawn at
  random (data.windows=random) or, with data.windows=all, every stride-1 window once an epoch.
- PairBatches: `<s> source target </s>` sequences, shuffled once per epoch and padded to the
  longest sequence of the batch; the loss counts target tokens and `</s>` only.
Epochs (PairBatches, CorpusBatches with windows=all) read the items in a fresh permutation each; the
order is a function of (seed, position in the stream of items), so --resume continues it without state.

Under torchrun (world_size > 1) each rank takes its share of a global micro-batch of world_size
micro-batches: together the ranks read exactly what one process with world_size times the gradient
accumulation would (tests/test_distributed.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from lmlab.config import RunConfig
from lmlab.data.corpus import Corpus, load_corpus, random_windows, windows_at
from lmlab.data.pairs import PairTask, load_pair_task
from lmlab.data.seq2seq import Batch, collate, encode_pair
from lmlab.errors import LmlabError


class EpochOrder:
    """Item number i of an endless stream of epochs over n items: each epoch a permutation drawn from
    (seed, epoch), the last one kept, so reading on in order costs one permutation an epoch."""

    def __init__(self, seed: int, n: int) -> None:
        self.seed, self.n = seed, n
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def items(self, start: int, count: int) -> torch.Tensor:
        """The items at stream positions start, start + 1, ..., start + count - 1."""
        return torch.tensor([self._item(i) for i in range(start, start + count)], dtype=torch.long)

    def _item(self, i: int) -> int:
        epoch = i // self.n
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=generator)
        return int(self._order[i % self.n])


class CorpusBatches:
    def __init__(
        self, corpus: Corpus, batch_size: int, block_size: int, windows: str = "random", seed: int = 0
    ) -> None:
        self.corpus, self.batch_size, self.block_size, self.windows = corpus, batch_size, block_size, windows
        self.tokenizer = corpus.tokenizer
        if len(corpus.train) <= block_size:
            raise LmlabError(
                f"the corpus's train split has {len(corpus.train)} tokens, fewer than model.block_size+1="
                f"{block_size + 1}; give a longer corpus or lower model.block_size"
            )
        if len(corpus.val) <= block_size:
            raise LmlabError(
                f"the validation split has {len(corpus.val)} tokens, fewer than model.block_size+1="
                f"{block_size + 1}; lower model.block_size or data.train_fraction"
            )
        self.order = None
        if windows == "all":
            self.order = EpochOrder(seed, self.window_count("train"))
            self.batch_size = min(batch_size, self.window_count("train"))  # a step sees every window

    def window_count(self, split: str) -> int:
        """Stride-1 windows of block_size tokens (and the next token) in a split."""
        return len(self.corpus.split(split)) - self.block_size

    @property
    def epoch_size(self) -> int | None:
        """windows=all: the train windows an epoch reads; random windows have no epochs (None)."""
        return self.window_count("train") if self.windows == "all" else None

    def describe(self) -> list[str]:
        lines = [
            f"corpus: {len(self.corpus.train):,} train and {len(self.corpus.val):,} val tokens, "
            f"vocabulary {self.tokenizer.vocab_size}"
        ]
        if self.windows == "all":
            train, val = self.window_count("train"), self.window_count("val")
            lines.append(
                f"windows: every stride-1 window of {self.block_size} tokens, {train:,} train (an epoch, "
                f"each in a fresh seeded order) and {val:,} val (every one scored)"
            )
        return lines

    def train_batch(
        self, index: int, generator: torch.Generator, rank: int = 0, world_size: int = 1
    ) -> Batch:
        """Random windows, or windows=all's micro-batch `index` of the stream of epochs (`generator`
        unused). Under torchrun, rank's share of world_size batches, as one process would read them."""
        if self.order is None:
            x, y = random_windows(
                self.corpus.train, self.batch_size, self.block_size, generator, rank, world_size
            )
        else:
            starts = self.order.items((index * world_size + rank) * self.batch_size, self.batch_size)
            x, y = windows_at(self.corpus.train, starts, self.block_size)
        return Batch(x, y, None, x.numel())

    def loss_batches(self, split: str, n_batches: int, seed: int) -> Iterator[Batch]:
        """`n_batches` random windows drawn with their own generator (training's is untouched).
        windows=all: validation is every val window in order; train a fixed seeded sample of windows."""
        if self.windows == "all":
            yield from self._all_windows(split, n_batches, seed)
            return
        generator = torch.Generator().manual_seed(seed)
        for _ in range(n_batches):
            x, y = random_windows(self.corpus.split(split), self.batch_size, self.block_size, generator)
            yield Batch(x, y, None, x.numel())

    def _all_windows(self, split: str, n_batches: int, seed: int) -> Iterator[Batch]:
        n = self.window_count(split)
        starts = torch.arange(n)
        if split == "train":
            generator = torch.Generator().manual_seed(seed)
            starts = torch.randperm(n, generator=generator)[: n_batches * self.batch_size]
        for i in range(0, len(starts), self.batch_size):
            x, y = windows_at(self.corpus.split(split), starts[i : i + self.batch_size], self.block_size)
            yield Batch(x, y, None, x.numel())


class PairBatches:
    def __init__(self, task: PairTask, batch_size: int, block_size: int, seed: int) -> None:
        self.task, self.seed = task, seed
        self.tokenizer = task.tokenizer
        all_pairs = [*task.train, *task.val, *task.test]
        self.group_names = sorted({task.group(s) for s, _ in all_pairs}) if task.group else []
        # every split encoded once into one padded batch; a training batch is a gather of its rows
        self.splits = {name: self._encode(task.split(name)) for name in ("train", "val")}
        self.lengths = {name: (b.inputs != self.tokenizer.pad_id).sum(1) for name, b in self.splits.items()}
        self.batch_size = min(batch_size, self.epoch_size)  # more than every pair: a step sees all of them
        longest_source, longest_target = task.longest()  # over test pairs too: decoding needs the room
        longest = longest_source + longest_target + 1  # inputs are <s> source target (</s> is only predicted)
        if longest > block_size:
            raise LmlabError(
                f"the longest sequence <s> source target </s> needs {longest} positions but "
                f"model.block_size={block_size}; set --set model.block_size={longest} or more"
            )
        self.order = EpochOrder(seed, self.epoch_size)

    def _encode(self, pairs: list[tuple[str, str]]) -> Batch:
        group_index = {name: i for i, name in enumerate(self.group_names)}
        encoded = [
            encode_pair(self.tokenizer, s, t, group_index[self.task.group(s)] if self.task.group else 0)
            for s, t in pairs
        ]
        return collate(encoded, self.tokenizer.pad_id)

    @property
    def epoch_size(self) -> int:
        return len(self.task.train)

    def describe(self) -> list[str]:
        return self.task.describe()

    def train_batch(
        self, index: int, generator: torch.Generator, rank: int = 0, world_size: int = 1
    ) -> Batch:
        """Micro-batch `index` of the endless stream of epochs, each a fresh seeded permutation.

        Under torchrun, rank's share of global micro-batch `index`: micro-batch index x world_size + rank
        of the stream one process would read.
        """
        rows = self.order.items((index * world_size + rank) * self.batch_size, self.batch_size)
        return self.splits["train"].rows(rows, self.lengths["train"])

    def loss_batches(self, split: str, n_batches: int, seed: int) -> Iterator[Batch]:
        """Validation: every pair, in order. Train: a fixed seeded sample of n_batches batches."""
        n = len(self.lengths[split])
        rows = torch.arange(n)
        if split == "train":
            generator = torch.Generator().manual_seed(seed)
            rows = torch.randperm(n, generator=generator)[: n_batches * self.batch_size]
        for i in range(0, len(rows), self.batch_size):
            yield self.splits[split].rows(rows[i : i + self.batch_size], self.lengths[split])


BatchSource = CorpusBatches | PairBatches


def make_batches(config: RunConfig, data_dir: Path | None = None, tokenizer=None) -> BatchSource:
    """The batch source of a run's data: pairs for pair tasks, windows of the corpus otherwise."""
    if config.data.is_pair_task:
        task = load_pair_task(config.data, data_dir, tokenizer)
        return PairBatches(task, config.train.batch_size, config.model.block_size, config.train.seed)
    corpus = load_corpus(config.data, data_dir, tokenizer, config.model.block_size)
    return CorpusBatches(
        corpus, config.train.batch_size, config.model.block_size, config.data.windows, config.train.seed
    )
