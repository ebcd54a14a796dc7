"""A tokenized corpus split by position, and training windows drawn from it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from lmlab.config import DataConfig
from lmlab.data import shakespeare
from lmlab.data.download import cache_dir
from lmlab.data.lines import drop_lines
from lmlab.data.text_files import corpus_files, read_corpus, safe_split_points
from lmlab.data.token_cache import cache_key, cached_ids
from lmlab.tokenizers import CharTokenizer, Tokenizer, fit_text_tokenizer, load_tokenizer, save_tokenizer

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
    config: DataConfig, data_dir: Path | None = None, tokenizer: Tokenizer | None = None, block_size: int = 0
) -> Corpus:
    """Read, clean (data.drop_*_lines), tokenize (fitting a tokenizer unless one is given) and split.

    windows=random. Characters: the split is by position in the token ids. BPE: the text is split by
    position in characters first (course_bpe: at the next line start) and the tokenizer learns its
    merges from the train part only, so nothing about the validation text leaks into the vocabulary
    and no token straddles the boundary.

    windows=all (the BPE assignment's split): the tokenizer learns from the same train part of the
    text (the assignment learns from all of it), the whole text is encoded as one, and the ids are
    split as the assignment splits its stride-1 windows of T=`block_size` tokens: the first
    n = int(train_fraction x (N - T)) of the N - T windows train, so train is ids[:n + T] and val
    ids[n:] (T tokens shared; each window lies in one split). Every caller passes the run's
    model.block_size, so eval, compare and report score the same split as training.
    """
    if config.dataset == "text":
        return _load_text_files(config, tokenizer, block_size)
    text = drop_lines(shakespeare.load_text(data_dir), config.drop_speaker_lines, config.drop_blank_lines)
    train_end = _train_end(config, text)
    tokenizer = tokenizer or fit_text_tokenizer(
        config.tokenizer, text, train_end, config.bpe_vocab_size, config.bpe_backend
    )
    if config.windows == "all" or config.tokenizer == "char":
        ids = torch.from_numpy(tokenizer.encode_array(text))
        train, val = window_split(ids, config.train_fraction, block_size if config.windows == "all" else 0)
        return Corpus(train=train, val=val, tokenizer=tokenizer)
    return Corpus(
        train=torch.from_numpy(tokenizer.encode_array(text[:train_end])),
        val=torch.from_numpy(tokenizer.encode_array(text[train_end:])),
        tokenizer=tokenizer,
    )


def window_split(
    ids: torch.Tensor, train_fraction: float, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and val ids whose windows of `block_size` tokens are the first int(train_fraction x
    windows) and the rest of all len(ids) - block_size windows (block_size 0: a split of the ids)."""
    n = int(train_fraction * max(len(ids) - block_size, 0))
    return ids[: n + block_size], ids[n:]


def _train_end(config: DataConfig, text: str) -> int:
    """Where the train text ends: train_fraction of the characters (course_bpe: the next line start,
    as it reads whole lines)."""
    end = int(config.train_fraction * len(text))
    if config.tokenizer != "course_bpe" or end == 0 or text[end - 1] == "\n":
        return end
    return text.find("\n", end) + 1 or len(text)


def _load_text_files(config: DataConfig, tokenizer: Tokenizer | None, block_size: int) -> Corpus:
    """Your own text, split by position in characters; ids cached on disk keyed by the corpus's hash."""
    corpus_text = read_corpus(corpus_files(config.data_file), config.encoding)
    text = drop_lines(corpus_text.text, config.drop_speaker_lines, config.drop_blank_lines)
    train_end = _train_end(config, text)
    cleaning = _cleaning(config)
    digest = corpus_text.digest
    if tokenizer is None:
        if config.tokenizer == "char":
            tokenizer = CharTokenizer.fit(text)
        else:
            tokenizer = _cached_bpe(config, digest, text, train_end)
    if config.windows == "all":
        key = cache_key(digest, tokenizer, f"all:{config.encoding}{cleaning}")
        ids = cached_ids(key, tokenizer.vocab_size, lambda: _encoded_pieces(tokenizer, text))
        train, val = window_split(ids, config.train_fraction, block_size)
        return Corpus(train=train, val=val, tokenizer=tokenizer)
    parts = {"train": text[:train_end], "val": text[train_end:]}
    split = {}
    for name, part in parts.items():
        key = cache_key(digest, tokenizer, f"{name}:{config.train_fraction}:{config.encoding}{cleaning}")
        split[name] = cached_ids(
            key, tokenizer.vocab_size, lambda part=part: _encoded_pieces(tokenizer, part)
        )
    return Corpus(train=split["train"], val=split["val"], tokenizer=tokenizer)


def _cleaning(config: DataConfig) -> str:
    """The cleaning in a cache key; empty without any, so the keys of uncleaned corpora stay as they were."""
    if not (config.drop_speaker_lines or config.drop_blank_lines):
        return ""
    return f":drop{int(config.drop_speaker_lines)}{int(config.drop_blank_lines)}"


def _cached_bpe(config: DataConfig, corpus_digest: str, text: str, train_end: int) -> Tokenizer:
    """The BPE (bpe or course_bpe) learned from this corpus's train split with these settings: learned
    once, then read."""
    described = (
        corpus_digest,
        config.bpe_vocab_size,
        config.bpe_backend,
        config.train_fraction,
        config.encoding,
    )
    settings = "|".join(map(str, described))
    if config.tokenizer != "bpe" or _cleaning(config):  # the keys of earlier BPEs stay as they were
        settings += f"|{config.tokenizer}{_cleaning(config)}"
    path = cache_dir() / "corpora" / f"{hashlib.sha256(settings.encode()).hexdigest()[:32]}.tokenizer.json"
    if path.exists():
        return load_tokenizer(path)
    tokenizer = fit_text_tokenizer(
        config.tokenizer, text, train_end, config.bpe_vocab_size, config.bpe_backend
    )
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
    return windows_at(ids, starts[rank * batch_size : (rank + 1) * batch_size], block_size)


def windows_at(ids: torch.Tensor, starts: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ids[s : s + T] and targets ids[s + 1 : s + 1 + T] of the windows starting at `starts`."""
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
