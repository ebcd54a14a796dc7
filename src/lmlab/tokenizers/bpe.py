"""Byte-level BPE in the style of GPT-2: lmlab's own trainer and encoder.

Ids 0..255 are the raw bytes, so every string round-trips exactly (byte fallback); merge number r
makes id 256 + r; special tokens take the ids after the merges. Text is first cut into chunks by
the GPT-2 regex (letters, numbers, punctuation runs, whitespace, each with at most one leading
space), and merges never cross a chunk boundary.

Special tokens are never parsed out of ordinary text: "<|endoftext|>" in the input encodes as its
bytes like any other string. Code that wants a special adds its id explicitly (`special_id`).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import numpy as np
import regex

from lmlab.errors import LmlabError

# openai/gpt-2 src/encoder.py (Radford et al. 2019)
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
N_BYTES = 256

_SPLIT = regex.compile(GPT2_SPLIT_PATTERN)

Pair = tuple[int, int]


def pretokenize(text: str) -> list[str]:
    """The GPT-2 chunks of `text`; joined, they give `text` back."""
    return _SPLIT.findall(text)


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each occurrence of `pair` in `ids`, left to right and without overlap, by `new_id`."""
    first, second = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == first and i + 1 < n and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def apply_deltas(counts: dict, deltas: dict, heap: list, where: dict) -> None:
    """Add each pair's change of count after a merge: a pair still present is queued again at its new
    count (the stale heap entry is skipped when it surfaces); a pair gone is forgotten."""
    for p, delta in deltas.items():
        if delta == 0:
            continue
        count = counts[p] + delta
        if count > 0:
            counts[p] = count
            heapq.heappush(heap, (-count, p))
        else:
            del counts[p]
            where.pop(p, None)


def learn_merges(word_counts: dict[bytes, int], n_merges: int) -> list[Pair]:
    """Up to `n_merges` merges over words with counts: the most frequent pair first, ties to the smaller pair.

    Counts are updated incrementally: an index pair -> words holding it finds the words a merge
    touches, and only those are re-counted. A heap of (-count, pair) gives the best pair; entries
    whose count has since changed are skipped when they surface. Stops early when no pair is left.
    """
    words = [list(word) for word in word_counts]
    freqs = list(word_counts.values())
    pair_counts: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for i, word in enumerate(words):
        for pair in pairwise(word):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[Pair] = []
    while heap and len(merges) < n_merges:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -neg_count:
            continue  # stale entry: the pair's count changed after it was pushed
        new_id = N_BYTES + len(merges)
        merges.append(pair)
        deltas: Counter[Pair] = Counter()
        for i in where.pop(pair):
            old = words[i]
            new = merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue  # the index may still list words an earlier merge took the pair from
            for p in pairwise(old):
                deltas[p] -= freqs[i]
            for p in pairwise(new):
                deltas[p] += freqs[i]
                where[p].add(i)
            words[i] = new
        apply_deltas(pair_counts, deltas, heap, where)
        assert pair not in pair_counts, "a merge removes every occurrence of its pair"
    return merges


def check_vocab_request(vocab_size: int, special_tokens: tuple[str, ...]) -> int:
    """The number of merges a byte-level BPE of `vocab_size` ids with these specials may learn."""
    smallest = N_BYTES + len(special_tokens)
    if vocab_size < smallest:
        raise LmlabError(
            f"BPE vocab_size={vocab_size} is too small: 256 bytes + {len(special_tokens)} special "
            f"token(s) need at least {smallest}; raise vocab_size"
        )
    if len(set(special_tokens)) != len(special_tokens):
        raise LmlabError(f"special tokens {special_tokens} repeat a token; list each once")
    return vocab_size - smallest


class BPETokenizer:
    """Byte-level BPE: 256 byte ids, then one id per merge in the order learned, then special tokens."""

    def __init__(self, merges: list[Pair], special_tokens: tuple[str, ...] = ()) -> None:
        self.merges = [(int(a), int(b)) for a, b in merges]
        self.special_tokens = tuple(special_tokens)
        self.vocab = [bytes([b]) for b in range(N_BYTES)]  # id -> the bytes it stands for
        self.merge_ids: dict[Pair, int] = {}  # pair -> merged id; a smaller id is an earlier merge
        for pair in self.merges:
            assert max(pair) < len(self.vocab), "a merge may only use ids learned before it"
            self.merge_ids[pair] = len(self.vocab)
            self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
        self.special_ids = {token: len(self.vocab) + i for i, token in enumerate(self.special_tokens)}
        assert len(self.special_ids) == len(self.special_tokens), "special tokens must be distinct"
        self.vocab += [token.encode("utf-8") for token in self.special_tokens]
        self._cache: dict[str, list[int]] = {}  # chunk -> ids: repeated words are encoded once

    @classmethod
    def fit(cls, text: str, vocab_size: int, special_tokens: tuple[str, ...] = ()) -> BPETokenizer:
        """Learn `vocab_size - 256 - len(special_tokens)` merges from `text` (fewer if its pairs run out)."""
        n_merges = check_vocab_request(vocab_size, special_tokens)
        chunk_counts = Counter(match.group() for match in _SPLIT.finditer(text))  # no list of every chunk
        word_counts = {chunk.encode("utf-8"): count for chunk, count in chunk_counts.items()}
        return cls(learn_merges(word_counts, n_merges), special_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def is_character_level(self) -> bool:
        return False

    def special_id(self, token: str) -> int:
        if token not in self.special_ids:
            raise LmlabError(f"{token!r} is not a special token here; choose one of {self.special_tokens}")
        return self.special_ids[token]

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply merges by rank: the earliest-learned pair present first, until none applies."""
        ids = list(chunk.encode("utf-8"))
        never = len(self.vocab)
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: self.merge_ids.get(p, never))
            new_id = self.merge_ids.get(pair)
            if new_id is None:
                break
            ids = merge_pair(ids, pair, new_id)
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for chunk in pretokenize(text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = cache[chunk] = self._encode_chunk(chunk)
            ids.extend(chunk_ids)
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """Encode a whole corpus; returns int64 ids."""
        return np.array(self.encode(text), dtype=np.int64)

    def decode(self, ids: list[int]) -> str:
        """Join the tokens' bytes; incomplete UTF-8 sequences (a cut-off token run) become U+FFFD."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """One token's bytes as text, for labels; a partial UTF-8 character shows as U+FFFD."""
        return self.vocab[token_id].decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "bpe",
            "merges": [list(pair) for pair in self.merges],
            "special_tokens": list(self.special_tokens),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BPETokenizer:
        return cls([(a, b) for a, b in raw["merges"]], tuple(raw["special_tokens"]))
