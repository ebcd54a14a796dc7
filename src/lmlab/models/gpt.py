"""GPT: a decoder-only transformer language model (Radford et al. 2019), pre-norm.

idx (B, T) -> token embedding (+ learned or sinusoidal positions) -> n_layer blocks -> final norm ->
lm_head -> logits (B, T, V). Variants are config fields of this one model: model.norm (layernorm,
rmsnorm, none), model.position (learned, sinusoidal, rotary, none; relative and alibi bias the
scores), model.activation (gelu, relu), model.mlp_ratio, model.bias (and per layer: attention_bias,
mlp_bias, lm_head_bias), model.tie_weights, model.attention_window, model.causal (false:
bidirectional attention, which cannot generate), and model.segment_embeddings (a learned vector per
segment, 0 = source, 1 = target, added to the tokens' for conditional language modelling on pairs).
modded-nanogpt's tricks: model.qk_norm, model.activation=relu2, model.zero_init_proj, model.x0_skip
(x <- a_i x + b_i x0 before block i) and model.value_embeddings (a token table per layer added to v).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmlab.config import ModelConfig
from lmlab.models.base import Inspection, LanguageModel
from lmlab.models.init import init_weights
from lmlab.models.kv_cache import KVCache, LayerCache
from lmlab.models.layers import Block, make_norm, sinusoidal_table
from lmlab.models.position_bias import PositionBias


class GPT(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        assert config.vocab_size > 0, "set model.vocab_size from the tokenizer before building"
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        if config.position == "learned":
            self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        elif config.position == "sinusoidal":  # fixed, so not saved with the weights
            self.register_buffer(
                "position_table", sinusoidal_table(config.block_size, config.n_embd), persistent=False
            )
        elif config.position in ("relative", "alibi"):  # on the attention scores, shared by every layer
            self.position_bias = PositionBias(config)
        if config.segment_embeddings:
            self.segment_embedding = nn.Embedding(2, config.n_embd)
        self.embedding_dropout = nn.Dropout(config.dropout)
        if config.x0_skip:  # row i: (a_i, b_i), set to (1, 0) by reset_parameters
            self.x0_lambdas = nn.Parameter(torch.empty(config.n_layer, 2))
        if config.value_embeddings:  # one (V, C) table per layer, read by its attention's values
            self.value_embeddings = nn.ModuleList(
                nn.Embedding(config.vocab_size, config.n_embd) for _ in range(config.n_layer)
            )
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.final_norm = make_norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.lm_head_has_bias)
        if config.tie_weights:
            self.lm_head.weight = self.token_embedding.weight  # one matrix reads and writes tokens
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every tensor by model.init (lmlab.models.init; GPT-2's scheme by default).

        With sinusoidal positions (amplitude 1) tokens must enter at that scale, not be drowned by it:
        an untied token embedding is N(0, 1) (nn.Embedding's default, assignment 002's GPT); a tied one
        is N(0, 1/n_embd) and read times sqrt(n_embd) (Vaswani et al. 2017, section 3.4), so the output
        layer sharing it starts small.
        """
        init_weights(self, self.config)
        if self.config.x0_skip:  # a = 1, b = 0: the plain model at the start
            with torch.no_grad():
                self.x0_lambdas.copy_(torch.tensor([1.0, 0.0]).expand(self.config.n_layer, 2))
        if self.config.position == "sinusoidal":
            std = self.config.n_embd**-0.5 if self.config.tie_weights else 1.0
            nn.init.normal_(self.token_embedding.weight, mean=0.0, std=std)

    @property
    def context_size(self) -> int:
        """Most tokens the model conditions on: positions exist up to block_size."""
        return self.config.block_size

    def forward(
        self, idx: torch.Tensor, *, cache: KVCache | None = None, segments: torch.Tensor | None = None
    ) -> torch.Tensor:
        """idx (B, T) int64 -> logits (B, T, V).

        With a cache, idx holds only the positions after the cached ones. `segments` (B, T) of 0/1 is
        required by a model with segment embeddings and ignored otherwise.
        """
        logits, _, _ = self._run(idx, cache=cache, need_weights=False, segments=segments)
        return logits

    def attention_weights(self, idx: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        """Attention pattern of every layer and head, (B, n_layer, n_head, T, T), by the explicit path."""
        return self.inspect(idx, segments).attentions

    def inspect(self, idx: torch.Tensor, segments: torch.Tensor | None = None) -> Inspection:
        """Logits, each block's output (B, n_layer, T, C) and attention (B, n_layer, n_head, T, T)."""
        logits, weights, hidden = self._run(idx, cache=None, need_weights=True, segments=segments)
        return Inspection(logits, torch.stack(hidden, dim=1), torch.stack(weights, dim=1))

    def _run(
        self,
        idx: torch.Tensor,
        cache: KVCache | None,
        need_weights: bool,
        segments: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(logits, attention weights per layer if need_weights, each block's output if need_weights)."""
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.config.block_size}")
        x = self.token_embedding(idx)  # (B, T, C)
        if self.config.position == "sinusoidal" and self.config.tie_weights:
            x = x * math.sqrt(self.config.n_embd)
        if self.config.position == "learned":
            x = x + self.position_embedding(torch.arange(start, start + T, device=idx.device))  # + (T, C)
        elif self.config.position == "sinusoidal":
            x = x + self.position_table[start : start + T].to(x.dtype)
        if self.config.segment_embeddings:
            if self.config.segments_constant:  # one learned vector everywhere, as the SCAN starter code
                segments = torch.ones_like(idx)
            if segments is None:
                raise ValueError("this model has segment embeddings: pass segments (0 source, 1 target)")
            x = x + self.segment_embedding(segments)  # (B, T, C)
        x = self.embedding_dropout(x)  # rotary, relative and alibi positions enter inside attention instead
        # relative, alibi: one (1, H, T, S) bias with the mask folded in, for every layer
        bias = self.position_bias(T, start + T, idx.device) if hasattr(self, "position_bias") else None
        x0 = x  # (B, T, C), for model.x0_skip
        weights, hidden = [], []
        recompute = self.config.checkpoint_activations and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if self.config.x0_skip:
                x = self.x0_lambdas[i, 0] * x + self.x0_lambdas[i, 1] * x0
            ve = self.value_embeddings[i](idx) if self.config.value_embeddings else None  # (B, T, C)
            if recompute and cache is None and not need_weights:
                x, w = checkpoint(block, x, None, False, bias, ve, use_reentrant=False)
                continue
            layer_cache = cache.layers[i] if cache is not None else None
            x, w = block(x, cache=layer_cache, need_weights=need_weights, bias=bias, value_embedding=ve)
            if need_weights:
                weights.append(w)
                hidden.append(x)
        return self.lm_head(self.final_norm(x)), weights, hidden  # logits (B, T, V)

    def new_cache(self, batch_size: int) -> KVCache:
        """An empty key/value cache for `batch_size` sequences of up to block_size positions."""
        weight = self.lm_head.weight
        return KVCache(
            [
                LayerCache(
                    batch_size,
                    self.config.n_head,
                    self.config.block_size,
                    self.config.head_size,
                    weight.device,
                    weight.dtype,
                )
                for _ in range(self.config.n_layer)
            ]
        )
