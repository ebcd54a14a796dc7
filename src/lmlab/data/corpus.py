"""A tokenized corpus split by position, and random training windows drawn from it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from lmlab.config import DataConfig
from lmlab.data import shakespeare
from lmlab.data.download import cache_dir
from lmlab.data.text_files import corpus_files, read_corpus, safe_split_points
from lmlab.data.token_cache import cache_key, cached_ids
from lmlab.tokenizers import CharTokenizer, Tokenizer, fit_bpe, load_tokenizer, save_tokenizer

ENCODE_PIECE_CHARACTERS = 1 << 22  # a large corpus is encoded and written ~4M characters at a time


@dataclass(frozen=True)
class Corpus:
    """Encoded token ids: the first `train_fraction` is train, the rest validation."""

    train: torch.Tensor  # (N_train,) int64; a text-file corpus: uint16/int32, memory-mapped
    val: torch.Tensor  # (N_val,)
    tokenizer: Tokenizer

    def split(self, name: str) -> torch.Tensor:
        assert name in ("train", "val"), name
        return self.train if name == "train" else self.val


def load_corpus(
    config: DataConfig, data_dir: Path | None = None, tokenizer: Tokenizer | None = None
) -> Corpus:
    """Read, tokenize (fitting a tokenizer unless one is given) and split the configured corpus.

    Characters: the split is by position in the token ids. BPE: the text is split by position in
    characters first and the tokenizer learns its merges from the train part only, so nothing about
    the validation text leaks into the vocabulary and no token straddles the boundary.
    """
    if config.dataset == "text":
        return _load_text_files(config, tokenizer)
    text = shakespeare.load_text(data_dir)
    if config.tokenizer == "char":
        tokenizer = tokenizer or CharTokenizer.fit(text)
        ids = torch.from_numpy(tokenizer.encode_array(text))
        n_train = int(config.train_fraction * len(ids))
        return Corpus(train=ids[:n_train], val=ids[n_train:], tokenizer=tokenizer)
    n_train_chars = int(config.train_fraction * len(text))
    train_text, val_text = text[:n_train_chars], text[n_train_chars:]
    tokenizer = tokenizer or fit_bpe(train_text, config.bpe_vocab_size, config.bpe_backend)
    return Corpus(
        train=torch.from_numpy(tokenizer.encode_array(train_text)),
        val=torch.from_numpy(tokenizer.encode_array(val_text)),
        tokenizer=tokenizer,
    )


def _load_text_files(config: DataConfig, tokenizer: Tokenizer | None) -> Corpus:
    """Your own text, split by position in characters; ids cached on disk keyed by the corpus's hash."""
    corpus_text = read_corpus(corpus_files(config.data_file), config.encoding)
    text = corpus_text.text
    n_train_chars = int(config.train_fraction * len(text))
    parts = {"train": text[:n_train_chars], "val": text[n_train_chars:]}
    digest = corpus_text.digest
    if tokenizer is None:
        if config.tokenizer == "char":
            tokenizer = CharTokenizer.fit(text)
        else:
            tokenizer = _cached_bpe(config, digest, parts["train"])
    ids = {}
    for name, part in parts.items():
        key = cache_key(digest, tokenizer, f"{name}:{config.train_fraction}:{config.encoding}")
        ids[name] = cached_ids(key, tokenizer.vocab_size, lambda part=part: _encoded_pieces(tokenizer, part))
    return Corpus(train=ids["train"], val=ids["val"], tokenizer=tokenizer)


def _cached_bpe(config: DataConfig, corpus_digest: str, train_text: str) -> Tokenizer:
    """The BPE learned from this corpus's train split with these settings: learned once, then read."""
    settings = "|".join(
        map(
            str,
            (
                corpus_digest,
                config.bpe_vocab_size,
                config.bpe_backend,
                config.train_fraction,
                config.encoding,
            ),
        )
    )
    path = cache_dir() / "corpora" / f"{hashlib.sha256(settings.encode()).hexdigest()[:32]}.tokenizer.json"
    if path.exists():
        return load_tokenizer(path)
    tokenizer = fit_bpe(train_text, config.bpe_vocab_size, config.bpe_backend)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_tokenizer(tokenizer, tmp)
    os.replace(tmp, path)
    return tokenizer


def _encoded_pieces(tokenizer: Tokenizer, text: str):
    """Encode `text` a few million characters at a time, cut where tokens cannot straddle the cut."""
    points = safe_split_points(text, ENCODE_PIECE_CHARACTERS)
    for start, end in zip(points, points[1:], strict=False):
        yield tokenizer.encode_array(text[start:end])


def random_windows(
    ids: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets from `batch_size` random windows, each (B, T) int64.

    One gather from the encoded tensor: no Python loop over rows. With `world_size` > 1 every rank
    draws the starts of all world_size x batch_size windows and keeps rank's share, so the ranks'
    generators stay equal and together they see what one process drawing world_size batches would.
    """
    starts = torch.randint(len(ids) - block_size, (world_size * batch_size,), generator=generator)
    starts = starts[rank * batch_size : (rank + 1) * batch_size]
    offsets = starts[:, None] + torch.arange(block_size)  # (B, T)
    return ids[offsets].long(), ids[offsets + 1].long()  # a memory-mapped corpus holds uint16/int32


def sequential_windows(ids: torch.Tensor, block_size: int, batch_size: int):
    """Yield (x, y) batches of non-overlapping windows that cover every target of `ids` exactly once.

    The last window may be shorter; each batch is (B, T) with T <= block_size.
    """
    n_targets = len(ids) - 1
    starts = list(range(0, n_targets, block_size))
    full = [s for s in starts if s + block_size <= n_targets]
    for i in range(0, len(full), batch_size):
        offsets = torch.tensor(full[i : i + batch_size])[:, None] + torch.arange(block_size)
        yield ids[offsets].long(), ids[offsets + 1].long()
    tail = [s for s in starts if s + block_size > n_targets]
    for s in tail:
        yield ids[s:n_targets][None].long(), ids[s + 1 : n_targets + 1][None].long()
