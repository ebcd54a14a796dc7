"""The BPE assignment's tokenizer (data.tokenizer=course_bpe): GPT-2 pre-tokenizer, then BPE over characters.

As the course assignments build it, beside lmlab's byte-level BPE:
- Each line is cut separately by the GPT-2 regex and each chunk is written in GPT-2's byte-to-unicode
  alphabet (a space shows as 'Ġ'). Newlines never become tokens: the model reads the lines joined.
- Learning: a chunk for which str.isupper() holds is folded by str.capitalize() ("ĠROMEO" -> "Ġromeo",
  'Ġ' being an upper-case letter), so shouted names count as ordinary words; encoding keeps the text.
- The vocabulary starts as the sorted alphabet. Each round counts adjacent pairs over the distinct
  words weighted by frequency, merges the most frequent pair everywhere and adds its concatenation;
  the vocabulary is the set of strings sorted by (length, string), and rounds go on until it holds
  `vocab_size` strings (a merge whose string is already there adds nothing). Ties go to the pair met
  first when the words are read in order of first occurrence, each left to right (the assignment's
  strict `<` over an insertion-ordered dict).
- Ids are positions in that sorted vocabulary. Encoding is greedy: the longest vocabulary string at
  the start of the chunk, then on from its end; decoding joins the strings and maps them back to bytes.

The assignment recounts every pair each round; here counts are kept up to date incrementally and ties
are broken by the same rule, so the vocabulary is the same (tests/test_course_bpe.py checks it).
"""

from __future__ import annotations

import heapq
from collections import Counter
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np

from lmlab.errors import LmlabError
from lmlab.tokenizers.bpe import apply_deltas, merge_pair, pretokenize

Pair = tuple[str, str]


@cache
def byte_alphabet() -> tuple[str, ...]:
    """GPT-2's bytes_to_unicode: byte b -> a printable character (printable ASCII and Latin-1 stay
    themselves; the other bytes take the code points from 256 on, in byte order: space -> 'Ġ')."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    return tuple(chr(b) if b in kept else chr(next(shifted)) for b in range(256))


@cache
def _byte_of() -> dict[str, int]:
    return {ch: b for b, ch in enumerate(byte_alphabet())}


def to_byte_chars(text: str) -> str:
    """`text`'s UTF-8 bytes written one printable character per byte."""
    alphabet = byte_alphabet()
    return "".join(alphabet[b] for b in text.encode("utf-8"))


def from_byte_chars(chars: str) -> bytes:
    byte_of = _byte_of()
    return bytes(byte_of[ch] for ch in chars)


def line_chunks(text: str) -> list[str]:
    """Every line's GPT-2 chunks in byte characters; newlines themselves are dropped."""
    return [to_byte_chars(chunk) for line in text.split("\n") for chunk in pretokenize(line)]


def fold_caps(word: str) -> str:
    """The assignment's caps folding for learning: an all-upper-case word is capitalized."""
    return word.capitalize() if word.isupper() else word


def learn_vocab(word_counts: dict[str, int], alphabet: set[str], vocab_size: int) -> list[str]:
    """The sorted vocabulary of `vocab_size` strings (fewer if no pair is left to merge).

    `word_counts` is in order of first occurrence, which breaks ties. Pair counts and the exact set of
    words holding each pair are updated only for the words a merge touches; a heap of (-count, pair)
    finds the top count (stale entries are skipped) and the tied pairs are ordered by first occurrence.
    """
    vocab = set(alphabet)
    if len(vocab) > vocab_size:
        raise LmlabError(
            f"data.bpe_vocab_size={vocab_size} is smaller than the corpus's {len(vocab)} distinct "
            f"characters; raise data.bpe_vocab_size to at least {len(vocab)}"
        )
    splits = [list(word) for word in word_counts]
    freqs = list(word_counts.values())
    counts: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = {}
    for i, split in enumerate(splits):
        for pair in pairwise(split):
            counts[pair] += freqs[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-count, pair) for pair, count in counts.items()]
    heapq.heapify(heap)

    def first_seen(pair: Pair) -> tuple[int, int]:
        i = min(where[pair])
        return i, next(k for k, p in enumerate(pairwise(splits[i])) if p == pair)

    while len(vocab) < vocab_size:
        tied = _top_pairs(heap, counts)
        if not tied:
            break  # every word is one token: no pair left
        best = min(tied, key=first_seen)
        for pair in tied - {best}:
            heapq.heappush(heap, (-counts[pair], pair))
        _merge_everywhere(best, splits, freqs, counts, where, heap)
        vocab.add(best[0] + best[1])
    return sorted(vocab, key=lambda token: (len(token), token))


def _top_pairs(heap: list[tuple[int, Pair]], counts: Counter[Pair]) -> set[Pair]:
    """Pop every live heap entry of the highest count; the set of those pairs (empty: none left)."""
    top: set[Pair] = set()
    best = None
    while heap and best in (None, -heap[0][0]):
        neg_count, pair = heapq.heappop(heap)
        if counts.get(pair) == -neg_count:  # else stale: the count changed after it was pushed
            best = -neg_count
            top.add(pair)
    return top


def _merge_everywhere(
    pair: Pair,
    splits: list[list[str]],
    freqs: list[int],
    counts: Counter[Pair],
    where: dict[Pair, set[int]],
    heap: list[tuple[int, Pair]],
) -> None:
    """Merge `pair` in every word holding it, keeping `counts` and `where` exact."""
    deltas: Counter[Pair] = Counter()
    for i in where.pop(pair):
        old = splits[i]
        new = merge_pair(old, pair, pair[0] + pair[1])  # type: ignore[arg-type]
        old_pairs, new_pairs = list(pairwise(old)), list(pairwise(new))
        for p in old_pairs:
            deltas[p] -= freqs[i]
        for p in new_pairs:
            deltas[p] += freqs[i]
        for p in set(old_pairs) - set(new_pairs) - {pair}:
            where[p].discard(i)
        for p in set(new_pairs):
            where.setdefault(p, set()).add(i)
        splits[i] = new
    apply_deltas(counts, deltas, heap, where)


class CourseBPETokenizer:
    """The BPE assignment's tokenizer: a vocabulary of byte-character strings, matched greedily."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = list(tokens)  # id -> string in byte characters, sorted by (length, string)
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        assert len(self.ids) == len(self.tokens), "tokens must be distinct"
        self.longest = max(map(len, self.tokens))
        self._cache: dict[str, list[int]] = {}  # chunk -> ids: repeated words are matched once

    @classmethod
    def fit(cls, text: str, vocab_size: int, alphabet_text: str = "") -> CourseBPETokenizer:
        """Learn from `text`'s lines. The alphabet also takes every character of `alphabet_text` (the
        whole corpus, validation too), so no character of the corpus is missing when it is encoded;
        on Tiny Shakespeare this adds nothing to the folded words' 65 characters (the assignment's)."""
        word_counts = Counter(fold_caps(chunk) for chunk in line_chunks(text))  # keeps first-seen order
        alphabet = {ch for word in word_counts for ch in word}
        alphabet |= set(to_byte_chars(alphabet_text.replace("\n", "")))
        return cls(learn_vocab(dict(word_counts), alphabet, vocab_size))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def is_character_level(self) -> bool:
        return False

    def _encode_chunk(self, chunk: str, word: str) -> list[int]:
        """Greedy longest match from the left over `chunk` (in byte characters) of the text `word`."""
        out, i, n = [], 0, len(chunk)
        while i < n:
            for j in range(min(i + self.longest, n), i, -1):
                token_id = self.ids.get(chunk[i:j])
                if token_id is not None:
                    out.append(token_id)
                    i = j
                    break
            else:
                unknown = next(ch for ch in word if not set(to_byte_chars(ch)) <= self.ids.keys())
                raise LmlabError(
                    f"the course_bpe tokenizer never saw the character {unknown!r} (U+{ord(unknown):04X}); "
                    "remove it from the text or fit the tokenizer on a corpus that holds it"
                )
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for line in text.split("\n"):
            for word in pretokenize(line):
                chunk_ids = cache.get(word)
                if chunk_ids is None:
                    chunk_ids = cache[word] = self._encode_chunk(to_byte_chars(word), word)
                ids.extend(chunk_ids)
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """Encode a whole corpus; returns int64 ids."""
        return np.array(self.encode(text), dtype=np.int64)

    def decode(self, ids: list[int]) -> str:
        """Join the tokens' bytes; incomplete UTF-8 sequences (a cut-off token run) become U+FFFD."""
        return from_byte_chars("".join(self.tokens[i] for i in ids)).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """One token as text ('Ġthe' -> ' the'), for labels; a partial UTF-8 character shows as U+FFFD."""
        return from_byte_chars(self.tokens[token_id]).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "course_bpe", "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CourseBPETokenizer:
        return cls(list(raw["tokens"]))
