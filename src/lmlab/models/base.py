"""The one contract every model family keeps.

    forward(idx (B, T), *, cache=None, segments=None) -> logits (B, T, V)

Logits are always full-sequence and nothing else is returned: the loss is chosen from the config and
computed in one place (lmlab.loss), and decoding lives in lmlab.generation. `segments` (B, T) of 0/1
marks source and target positions of a pair task; a family without segment embeddings ignores it.
`cache` is whatever `new_cache` made (keys and values, or an LSTM state); with it, idx holds only the
positions after the cached ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.errors import LmlabError

NON_CAUSAL = (
    "a non-causal model sees the tokens it is asked to predict; it cannot generate — "
    "train with model.causal=true"
)


@dataclass(frozen=True)
class Inspection:
    """What a model computed on one input, for looking inside it (the arithmetic assignment, problem 2.9)."""

    logits: torch.Tensor  # (B, T, V)
    hidden_states: torch.Tensor  # (B, n_layer, T, C): the output of every layer (block)
    attentions: torch.Tensor | None  # (B, n_layer, n_head, T, T) for attention models, else None


class LanguageModel(nn.Module):
    """Base of every family: forward(idx, *, cache=None, segments=None) -> logits (B, T, V)."""

    def forward(self, idx: torch.Tensor, *, cache=None, segments: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    @property
    def context_size(self) -> int | None:
        """Most tokens the model conditions on (None: unbounded, as a recurrent network)."""
        raise NotImplementedError

    def new_cache(self, batch_size: int):
        """State kept between decoding steps; None when the model needs none."""
        return None

    def inspect(self, idx: torch.Tensor, segments: torch.Tensor | None = None) -> Inspection:
        """Logits with every layer's output (and attention pattern, where there is one) for idx (B, T)."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its layers")


def require_causal(model: nn.Module) -> None:
    """Refuse in one line to decode from a model with bidirectional attention (model.causal=false).

    Every decoder calls this (sampling, pair-task decoding, next-token distributions): trained with the
    future in view, such a model's next-token predictions are meaningless without it.
    """
    if not getattr(getattr(model, "config", None), "causal", True):
        raise LmlabError(NON_CAUSAL)
