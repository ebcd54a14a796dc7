"""What every model family shares: generation through lmlab.generation, and an optional cache."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.generation.decode import generate


@dataclass(frozen=True)
class Inspection:
    """What a model computed on one input, for looking inside it (seed 002 problem 2.9)."""

    logits: torch.Tensor  # (B, T, V)
    hidden_states: torch.Tensor  # (B, n_layer, T, C): the output of every layer (block)
    attentions: torch.Tensor | None  # (B, n_layer, n_head, T, T) for attention models, else None


class LanguageModel(nn.Module):
    """Base of every family: forward(idx, targets=None, cache=None) -> (logits (B, T, V), loss | None)."""

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

    def generate(self, idx: torch.Tensor, max_new_tokens: int, **options) -> torch.Tensor:
        """idx (B, T) -> (B, T + max_new_tokens); options as `lmlab.generation.decode.generate`."""
        return generate(self, idx, max_new_tokens, **options)
