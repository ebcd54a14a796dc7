"""Where training batches come from: windows of a running text, or padded (source, target) pairs.

Both sources give `Batch`es; the trainer and the loss estimate do not care which.
- CorpusBatches: random windows of block_size tokens from the encoded corpus (one gather each).
- PairBatches: `<s> source target </s>` sequences, shuffled once per epoch and padded to the
  longest sequence of the batch; the loss counts target tokens and `</s>` only. The order is a
  function of (seed, position in the stream of pairs), so --resume continues it without state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from lmlab.config import RunConfig
from lmlab.data.corpus import Corpus, load_corpus, random_windows
from lmlab.data.pairs import PairTask, load_pair_task
from lmlab.data.seq2seq import Batch, EncodedPair, collate, encode_pair
from lmlab.errors import LmlabError


class CorpusBatches:
    def __init__(self, corpus: Corpus, batch_size: int, block_size: int) -> None:
        self.corpus, self.batch_size, self.block_size = corpus, batch_size, block_size
        self.tokenizer = corpus.tokenizer
        if len(corpus.val) <= block_size:
            raise LmlabError(
                f"the validation split has {len(corpus.val)} tokens, fewer than model.block_size+1="
                f"{block_size + 1}; lower model.block_size or data.train_fraction"
            )

    epoch_size = None  # random windows: no epochs

    def describe(self) -> list[str]:
        return [
            f"corpus: {len(self.corpus.train):,} train and {len(self.corpus.val):,} val tokens, "
            f"vocabulary {self.tokenizer.vocab_size}"
        ]

    def train_batch(self, index: int, generator: torch.Generator) -> Batch:
        x, y = random_windows(self.corpus.train, self.batch_size, self.block_size, generator)
        return Batch(x, y, None, x.numel())

    def loss_batches(self, split: str, n_batches: int, seed: int) -> Iterator[Batch]:
        """`n_batches` random windows drawn with their own generator (training's is untouched)."""
        generator = torch.Generator().manual_seed(seed)
        for _ in range(n_batches):
            x, y = random_windows(self.corpus.split(split), self.batch_size, self.block_size, generator)
            yield Batch(x, y, None, x.numel())


class PairBatches:
    def __init__(self, task: PairTask, batch_size: int, block_size: int, seed: int) -> None:
        self.task, self.batch_size, self.seed = task, batch_size, seed
        self.tokenizer = task.tokenizer
        self.encoded = {
            name: [encode_pair(task.tokenizer, s, t) for s, t in task.split(name)]
            for name in ("train", "val")
        }
        longest_source, longest_target = task.longest()  # over test pairs too: decoding needs the room
        longest = longest_source + longest_target + 1  # inputs are <s> source target (</s> is only predicted)
        if longest > block_size:
            raise LmlabError(
                f"the longest sequence <s> command actions </s> needs {longest} positions but "
                f"model.block_size={block_size}; set --set model.block_size={longest} or more"
            )
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    @property
    def epoch_size(self) -> int:
        return len(self.encoded["train"])

    def describe(self) -> list[str]:
        return self.task.describe()

    def train_batch(self, index: int, generator: torch.Generator) -> Batch:
        """Micro-batch `index` of the endless stream of epochs, each a fresh seeded permutation."""
        n = self.epoch_size
        start = index * self.batch_size
        rows = [self._position(i, n) for i in range(start, start + self.batch_size)]
        return self._collate([self.encoded["train"][i] for i in rows])

    def _position(self, i: int, n: int) -> int:
        epoch = i // n
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(n, generator=generator)
        return int(self._order[i % n])

    def loss_batches(self, split: str, n_batches: int, seed: int) -> Iterator[Batch]:
        """Validation: every pair, in order. Train: a fixed seeded sample of n_batches batches."""
        pairs = self.encoded[split]
        if split == "train":
            generator = torch.Generator().manual_seed(seed)
            sample = torch.randperm(len(pairs), generator=generator)[: n_batches * self.batch_size]
            pairs = [pairs[int(i)] for i in sample]
        for i in range(0, len(pairs), self.batch_size):
            yield self._collate(pairs[i : i + self.batch_size])

    def _collate(self, pairs: list[EncodedPair]) -> Batch:
        return collate(pairs, self.tokenizer.pad_id)


BatchSource = CorpusBatches | PairBatches


def make_batches(config: RunConfig, data_dir: Path | None = None, tokenizer=None) -> BatchSource:
    """The batch source of a run's data: pairs for pair tasks, windows of the corpus otherwise."""
    if config.data.is_pair_task:
        task = load_pair_task(config.data, data_dir, tokenizer)
        return PairBatches(task, config.train.batch_size, config.model.block_size, config.train.seed)
    corpus = load_corpus(config.data, data_dir, tokenizer)
    return CorpusBatches(corpus, config.train.batch_size, config.model.block_size)
