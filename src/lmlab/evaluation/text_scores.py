"""A text model scored on a whole split: loss per token, and bits per character across tokenizers.

Bits per character is the split's total negative log-likelihood in bits divided by the characters
its predicted targets spell (every token but the first, decoded): the one number that compares a
character model with a BPE model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lmlab.config import RunConfig
from lmlab.data.corpus import load_corpus
from lmlab.evaluation.loss import evaluate_split
from lmlab.tokenizers import Tokenizer


@dataclass(frozen=True)
class TextSplitScore:
    """Exact scores over every target of a text split."""

    tokens: int  # targets scored
    characters: int  # characters the targets spell
    loss: float  # mean negative log-likelihood per token, nats

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    @property
    def bits_per_character(self) -> float:
        return self.loss * self.tokens / math.log(2) / self.characters


def target_characters(tokenizer: Tokenizer, ids: torch.Tensor) -> int:
    """Characters spelled by the targets of `ids` (N,): every token but the first, decoded."""
    return len(tokenizer.decode(ids[1:].tolist()))


def score_text_split(
    model: nn.Module,
    tokenizer: Tokenizer,
    ids: torch.Tensor,
    block_size: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> TextSplitScore:
    """Loss, perplexity and bits per token and per character of `model` over the split `ids` (N,)."""
    score = evaluate_split(model, ids, block_size, batch_size, device, dtype)
    return TextSplitScore(tokens=score.tokens, characters=target_characters(tokenizer, ids), loss=score.loss)


def score_text_run(
    config: RunConfig,
    tokenizer: Tokenizer,
    model: nn.Module,
    data_dir: Path | None,
    splits: Sequence[str] = ("train", "val"),
    batch_size: int = 64,
) -> dict[str, TextSplitScore]:
    """What `lmlab eval` reports of a text run: each split of its corpus scored whole, on the model's
    device."""
    corpus = load_corpus(config.data, data_dir, tokenizer, config.model.block_size)
    device = next(model.parameters()).device
    return {
        split: score_text_split(
            model, tokenizer, corpus.split(split), config.model.block_size, batch_size, device
        )
        for split in splits
    }
