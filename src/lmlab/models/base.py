"""What every model family shares: generation through lmlab.generation, and an optional cache."""

from __future__ import annotations

import torch
from torch import nn

from lmlab.generation.decode import generate


class LanguageModel(nn.Module):
    """Base of every family: forward(idx, targets=None, cache=None) -> (logits (B, T, V), loss | None)."""

    @property
    def context_size(self) -> int | None:
        """Most tokens the model conditions on (None: unbounded, as a recurrent network)."""
        raise NotImplementedError

    def new_cache(self, batch_size: int):
        """State kept between decoding steps; None when the model needs none."""
        return None

    def generate(self, idx: torch.Tensor, max_new_tokens: int, **options) -> torch.Tensor:
        """idx (B, T) -> (B, T + max_new_tokens); options as `lmlab.generation.decode.generate`."""
        return generate(self, idx, max_new_tokens, **options)
