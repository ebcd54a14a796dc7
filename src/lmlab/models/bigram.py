"""Bigram language models: the next token depends on the current token only (assignment 004, step 1).

- `Bigram`: a V x V table whose row for token a holds the logits of the token after a.
- `BigramEmbed`: a token embedding (V x C) followed by a linear readout (C -> V): the same
  function class, factored through C dimensions.
"""

from __future__ import annotations

import torch
from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.base import LanguageModel
from lmlab.models.init import init_weights


class Bigram(LanguageModel):
    embedding_names = ()  # the table is the whole model, not an embedding in front of one

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.logits_table = nn.Embedding(config.vocab_size, config.vocab_size)
        # N(0, model.init_std): 0.02 starts near uniform (loss ~ ln V); model.init=pytorch (nn.Embedding's
        # N(0, 1)) is assignment 004's start, whose random logits cost about ln V + 1/2 (4.66 for V = 65)
        init_weights(self, config)

    @property
    def context_size(self) -> int:
        return 1

    def forward(self, idx: torch.Tensor, *, cache=None, segments=None) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, V): row idx[b, t] of the table."""
        return self.logits_table(idx)


class BigramEmbed(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=True)
        init_weights(self, config)

    @property
    def context_size(self) -> int:
        return 1

    def forward(self, idx: torch.Tensor, *, cache=None, segments=None) -> torch.Tensor:
        """idx (B, T) -> embeddings (B, T, C) -> logits (B, T, V)."""
        return self.lm_head(self.token_embedding(idx))
