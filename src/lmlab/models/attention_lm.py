"""Attention-only language model (assignment 004, steps 1.3.2 and 1.3.3): no MLP, no residual, no norm.

idx -> token + learned position embeddings -> one causal self-attention layer (model.n_head heads;
n_head=1 is the single-head model; model.attention_out_proj=false drops the C x C projection after
the heads, as assignment 004's single head) -> linear readout. The step between bigrams and transformers: each
token now mixes information from every earlier one.
"""

from __future__ import annotations

import torch
from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.base import Inspection, LanguageModel
from lmlab.models.init import init_weights
from lmlab.models.kv_cache import KVCache, LayerCache
from lmlab.models.layers import CausalSelfAttention


class AttentionLM(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=True)
        init_weights(self, config)  # N(0, model.init_std) weights, zero biases; or torch's defaults

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def forward(self, idx: torch.Tensor, *, cache: KVCache | None = None, segments=None) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, V)."""
        return self._run(idx, cache, need_weights=False)[0]

    def attention_weights(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_head, T, T): the one layer's attention pattern."""
        return self._run(idx, None, need_weights=True)[1][:, None]

    def inspect(self, idx: torch.Tensor, segments: torch.Tensor | None = None) -> Inspection:
        """Logits (B, T, V), the attention layer's output (B, 1, T, C) and its pattern (B, 1, n_head, T, T).

        `segments` is ignored: this family has no segment embeddings.
        """
        logits, weights, hidden = self._run(idx, None, need_weights=True)
        return Inspection(logits, hidden[:, None], weights[:, None])

    def _run(self, idx: torch.Tensor, cache: KVCache | None, need_weights: bool):
        T = idx.size(1)
        start = cache.length if cache is not None else 0
        positions = torch.arange(start, start + T, device=idx.device)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        y, weights = self.attn(
            x, cache=cache.layers[0] if cache is not None else None, need_weights=need_weights
        )
        return self.lm_head(y), weights, y  # logits (B, T, V), weights (B, H, T, T), y (B, T, C)

    def new_cache(self, batch_size: int) -> KVCache:
        c, weight = self.config, self.lm_head.weight
        return KVCache(
            [LayerCache(batch_size, c.n_head, c.block_size, c.head_size, weight.device, weight.dtype)]
        )
