"""What a preset's data looks like: the sizes of its splits and one training batch, x against y.

`lmlab data PRESET` prints these lines; x is what the model reads, y what it is asked to predict at
each position (for pair tasks, `_` where nothing is predicted: the source and padding).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmlab.config import RunConfig
from lmlab.data.batches import BatchSource, PairBatches, make_batches
from lmlab.loss import IGNORE_INDEX

NOT_PREDICTED = "_"


def data_sizes(config: RunConfig, data: BatchSource) -> str:
    """One line: the splits' sizes (tokens of a text corpus, its windows with data.windows=all, pairs of a
    pair task) and the vocabulary."""
    vocabulary = f"vocabulary {data.tokenizer.vocab_size} ({config.data.tokenizer})"
    if isinstance(data, PairBatches):
        task = data.task
        splits = [f"{len(task.train):,} train", f"{len(task.val):,} val"]
        if task.test:
            splits.append(f"{len(task.test):,} test")
        return f"{task.name}: {', '.join(splits)} pairs, {vocabulary}"
    corpus = data.corpus
    sizes = f"{len(corpus.train):,} train and {len(corpus.val):,} val tokens"
    if data.windows == "all":  # the windows are the examples; the splits share block_size tokens
        train, val = data.window_count("train"), data.window_count("val")
        sizes = f"{train:,} train (an epoch) and {val:,} val windows of {data.block_size} tokens at stride 1"
    return f"{config.data.dataset}: {sizes}, {vocabulary}"


def batch_rows(data: BatchSource, seed: int, rows: int = 2) -> list[tuple[str, str]]:
    """(x, y) of the first `rows` rows of one training batch, decoded. Text: the window and the same
    window one token on, as strings. Pairs: the tokens side by side, padding left out."""
    batch = data.train_batch(0, torch.Generator().manual_seed(seed))
    shown = []
    for x, y in zip(batch.inputs[:rows].tolist(), batch.targets[:rows].tolist(), strict=True):
        if isinstance(data, PairBatches):
            keep = [i for i, token in enumerate(x) if token != data.tokenizer.pad_id]
            text = data.tokenizer.token_text
            tokens = [text(x[i]) for i in keep]
            targets = [NOT_PREDICTED if y[i] == IGNORE_INDEX else text(y[i]) for i in keep]
            shown.append((" ".join(tokens), " ".join(targets)))
        else:
            shown.append((repr(data.tokenizer.decode(x)), repr(data.tokenizer.decode(y))))
    return shown


def data_preview(config: RunConfig, data_dir: Path | None = None, rows: int = 2) -> list[str]:
    """The lines `lmlab data` prints: sizes, then rows of one training batch, x above y."""
    data = make_batches(config, data_dir)
    batch_size, width = data.batch_size, config.model.block_size
    lines = [
        data_sizes(config, data),
        f"one training batch ({batch_size} rows, up to {width} positions); x is read, y predicted"
        + (f" ({NOT_PREDICTED}: not predicted)" if isinstance(data, PairBatches) else ""),
    ]
    for number, (x, y) in enumerate(batch_rows(data, config.train.seed, rows)):
        lines += [f"row {number} x: {x}", f"      y: {y}"]
    return lines
