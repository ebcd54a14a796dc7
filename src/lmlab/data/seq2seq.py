"""Conditional language modelling on (source, target) pairs, e.g. SCAN commands -> actions.

A pair becomes one sequence `<s> source… target… </s>`. The model reads it left to right; the loss
counts only the predictions of target tokens and `</s>` (source and padding are masked with
IGNORE_INDEX), so it learns p(target | source) and not the distribution of sources. Batches are
padded to the longest sequence in the batch, not to a fixed length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmlab.loss import IGNORE_INDEX
from lmlab.tokenizers.word import WordTokenizer


@dataclass(frozen=True)
class EncodedPair:
    ids: list[int]  # <s> source target </s>
    source_length: int  # words in the source
    group: int = 0  # index of the pair's metrics group (arithmetic: its operation order), else 0


def encode_pair(tokenizer: WordTokenizer, source: str, target: str, group: int = 0) -> EncodedPair:
    source_ids, target_ids = tokenizer.encode(source), tokenizer.encode(target)
    return EncodedPair([tokenizer.bos_id, *source_ids, *target_ids, tokenizer.eos_id], len(source_ids), group)


SOURCE_SEGMENT, TARGET_SEGMENT = 0, 1
TARGET_MARKER = "OUT:"  # in a typed prompt, what follows is the start of the target (SCAN's own format)


def segment_ids(source_length: int, length: int) -> list[int]:
    """Segments of the first `length` input positions of `<s> source… target…`: 0 for `<s>` and the
    `source_length` source words, 1 after them. The one rule for training batches and prompts alike."""
    source_positions = min(length, source_length + 1)
    return [SOURCE_SEGMENT] * source_positions + [TARGET_SEGMENT] * (length - source_positions)


def encode_prompt(tokenizer: WordTokenizer, prompt: str) -> tuple[list[int], list[int]]:
    """(ids, segments) of a typed prompt `source words [OUT: target words]`, read as `<s> source target`.

    Without `OUT:` the whole prompt is the source, and the model's next token is the first target word.
    """
    source, _, target = prompt.partition(TARGET_MARKER)
    source_ids, target_ids = tokenizer.encode(source), tokenizer.encode(target)
    ids = [tokenizer.bos_id, *source_ids, *target_ids]
    return ids, segment_ids(len(source_ids), len(ids))


@dataclass(frozen=True)
class Batch:
    inputs: torch.Tensor  # (B, T) ids, padded with <pad>
    targets: torch.Tensor  # (B, T) next ids; IGNORE_INDEX where the source or padding is predicted
    segments: torch.Tensor | None  # (B, T) 0 for <s> and source positions, 1 for target positions and padding
    n_tokens: int  # positions read (padding excluded), for tokens/s
    groups: torch.Tensor | None = None  # (B,) metrics group of each row (pair tasks)

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        """The batch's tensors on `device` (pinned first when non_blocking: an asynchronous copy)."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            return (t.pin_memory() if non_blocking else t).to(device, non_blocking=non_blocking)

        return Batch(move(self.inputs), move(self.targets), move(self.segments), self.n_tokens, self.groups)

    def rows(self, index: torch.Tensor, lengths: torch.Tensor) -> Batch:
        """The rows `index` of a padded batch, cut to their longest sequence (`lengths`: (B,) per row)."""
        kept = lengths.index_select(0, index)
        T = int(kept.max())
        return Batch(
            self.inputs.index_select(0, index)[:, :T],
            self.targets.index_select(0, index)[:, :T],
            self.segments.index_select(0, index)[:, :T] if self.segments is not None else None,
            int(kept.sum()),
            self.groups.index_select(0, index) if self.groups is not None else None,
        )


def collate(pairs: list[EncodedPair], pad_id: int) -> Batch:
    """Pad to the longest sequence of this batch; inputs are ids[:-1], targets ids[1:]."""
    T = max(len(p.ids) for p in pairs) - 1
    inputs = torch.full((len(pairs), T), pad_id, dtype=torch.long)
    targets = torch.full((len(pairs), T), IGNORE_INDEX, dtype=torch.long)
    segments = torch.full((len(pairs), T), TARGET_SEGMENT, dtype=torch.long)  # padding: target
    for row, pair in enumerate(pairs):
        ids = torch.tensor(pair.ids)
        n = len(ids) - 1
        inputs[row, :n] = ids[:-1]
        # input position j predicts ids[j+1]; targets are ids from index source_length + 1 on
        targets[row, pair.source_length : n] = ids[pair.source_length + 1 :]
        segments[row, :n] = torch.tensor(segment_ids(pair.source_length, n))
    groups = torch.tensor([p.group for p in pairs], dtype=torch.long)
    return Batch(inputs, targets, segments, sum(len(p.ids) - 1 for p in pairs), groups)


def longest_lengths(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """(longest source, longest target) in words: SCAN's are 9 and 48."""
    return max(len(s.split()) for s, _ in pairs), max(len(t.split()) for _, t in pairs)
