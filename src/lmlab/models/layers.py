"""Building blocks of the transformer, written from tensor primitives: norms, positions, attention, MLP.

Shapes: B batch, T query positions, S key positions (T, or more with a cache), C = n_embd,
H = n_head, D = head size = C / H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.kv_cache import LayerCache


class LayerNorm(nn.Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim, var biased (divide by C).

    `explicit` computes it from primitives; `forward` calls the fused kernel, which tests check
    against `explicit` (it trains about 20% faster on a CPU: one kernel instead of six).
    """

    def __init__(self, n_embd: int, bias: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.size(-1),), self.weight, self.bias, self.eps)

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=-1, keepdim=True)  # biased, as torch.nn.LayerNorm
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight (Zhang & Sennrich 2019): no centring, no bias.

    `explicit` from primitives; `forward` through the fused kernel, tested against it.
    """

    def __init__(self, n_embd: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def make_norm(config: ModelConfig) -> nn.Module:
    eps = {"eps": config.norm_eps} if config.norm_eps else {}  # 0: each norm's usual epsilon
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, **eps)
    if config.norm == "none":
        return nn.Identity()
    return LayerNorm(config.n_embd, bias=config.bias, **eps)


def sinusoidal_table(n_positions: int, dim: int) -> torch.Tensor:
    """(n_positions, dim) fixed encodings of Vaswani et al. 2017: sin on even, cos on odd channels."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021): rotate channel pairs of q and k by position x frequency.

    Pairs are (i, i + D/2), as in GPT-NeoX and Llama. Scores q.k then depend on relative position only.
    """

    def __init__(self, head_size: int, n_positions: int, base: float = 10000.0) -> None:
        super().__init__()
        inverse_frequency = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
        angles = torch.arange(n_positions, dtype=torch.float32)[:, None] * inverse_frequency  # (P, D/2)
        self.register_buffer("cos", torch.cos(angles).repeat(1, 2), persistent=False)  # (P, D)
        self.register_buffer("sin", torch.sin(angles).repeat(1, 2), persistent=False)

    def forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x (B, H, T, D) at positions start .. start+T-1 -> rotated x, same shape."""
        T = x.size(2)
        cos, sin = self.cos[start : start + T].to(x.dtype), self.sin[start : start + T].to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-second, first], dim=-1) * sin


def causal_mask(n_query: int, n_key: int, device: torch.device, window: int = 0) -> torch.Tensor:
    """(T, S) bool, True where query t may see key s: the queries are the last T of S positions.

    With window w > 0 a query sees only itself and the w - 1 positions before it.
    """
    offset = n_key - n_query
    query_pos = torch.arange(n_query, device=device)[:, None] + offset
    key_pos = torch.arange(n_key, device=device)[None, :]
    mask = key_pos <= query_pos
    return mask & (key_pos > query_pos - window) if window > 0 else mask


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position sees itself and earlier positions only.

    With model.causal=false nothing is masked: every position sees the whole sequence (an encoder).
    model.qk_norm RMS-normalises each head's q and k over D (no weight, as modded-nanogpt and nanochat)
    before rotary: a rotation keeps a vector's length, so the order changes nothing but rounding; keys
    are cached normalised. model.value_embeddings adds λ·ve (λ a learned scalar, 0 at the start) to v.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_size = config.head_size
        self.window = config.attention_window
        self.causal = config.causal
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.qkv_has_bias)
        self.out_proj = (
            nn.Linear(config.n_embd, config.n_embd, bias=config.attention_has_bias)
            if config.attention_out_proj
            else nn.Identity()  # heads concatenated straight into what follows
        )
        self.rotary = Rotary(config.head_size, config.block_size) if config.position == "rotary" else None
        self.qk_norm = config.qk_norm
        # the weight of this layer's value embedding; 0 (lmlab.models.init): the plain model at the start
        self.value_lambda = nn.Parameter(torch.zeros(())) if config.value_embeddings else None
        self.dropout = config.attention_dropout_p  # on the attention weights
        self.attn_dropout = nn.Dropout(config.attention_dropout_p)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        cache: LayerCache | None = None,
        need_weights: bool = False,
        bias: torch.Tensor | None = None,
        value_embedding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, C) -> (y (B, T, C), weights (B, H, T, S) if need_weights else None).

        With a cache, x holds only the new positions; keys and values of earlier ones come from it.
        The explicit path runs when weights are requested, the fused SDPA kernel otherwise. `bias`
        (1, H, T, S), from lmlab.models.position_bias, is added to the scores and holds the mask.
        `value_embedding` (B, T, C): this layer's value-embedding rows of the new tokens, if it has one.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # (B, T, C) each: one matrix product for all three
        if self.value_lambda is not None:
            if value_embedding is None:
                raise ValueError("this attention layer has a value embedding: pass value_embedding")
            v = v + self.value_lambda * value_embedding  # (B, T, C): cached values include it
        q = q.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, self.n_head, self.head_size).transpose(1, 2)  # (B, H, T, D)
        if self.qk_norm:  # over each head's D channels: |q| = |k| = sqrt(D)
            q, k = F.rms_norm(q, (self.head_size,)), F.rms_norm(k, (self.head_size,))
        if self.rotary is not None:
            start = cache.length if cache is not None else 0
            q, k = self.rotary(q, start), self.rotary(k, start)  # keys are cached rotated
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, S, D), S = cached + T
        if need_weights:
            y, weights = self._explicit(q, k, v, bias)
        elif bias is not None:  # SDPA adds a float mask to the scores: the bias, -inf where masked
            dropout_p = self.dropout if self.training else 0.0
            y, weights = (
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout_p),
                None,
            )
        else:
            y, weights = self._fused(q, k, v), None
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # merge heads: (B, H, T, D) -> (B, T, C)
        return self.resid_dropout(self.out_proj(y)), weights

    def _explicit(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        T, S = q.size(2), k.size(2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_size)  # (B, H, T, S)
        if bias is not None:
            scores = scores + bias.to(scores.dtype)  # the mask is in it
        elif self.causal:
            scores = scores.masked_fill(~causal_mask(T, S, q.device, self.window), float("-inf"))
        weights = F.softmax(scores, dim=-1)
        return self.attn_dropout(weights) @ v, weights  # (B, H, T, D), (B, H, T, S)

    def _fused(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        T, S = q.size(2), k.size(2)
        dropout_p = self.dropout if self.training else 0.0
        if not self.causal:  # no mask: every query sees every key
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        if self.window == 0 and T == S:  # SDPA's is_causal aligns the mask top-left: right for a square
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        if self.window == 0 and T == 1:  # one new query sees every cached key
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        mask = causal_mask(T, S, q.device, self.window)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


class ReLUSquared(nn.Module):
    """ReLU(x)² (So et al. 2021, Primer), model.activation=relu2: modded-nanogpt's and nanochat's MLP."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "relu2": ReLUSquared}


class MLP(nn.Module):
    """Position-wise feed-forward: C -> mlp_ratio * C -> GELU, ReLU or ReLU² -> C."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, config.mlp_hidden, bias=config.mlp_has_bias)
        self.activation = ACTIVATION_LAYERS[config.activation]()
        self.out_proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=config.mlp_has_bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, C) -> (B, T, mlp_hidden) -> (B, T, C)
        return self.dropout(self.out_proj(self.activation(self.fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm_attn = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.norm_mlp = make_norm(config)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        cache: LayerCache | None = None,
        need_weights: bool = False,
        bias: torch.Tensor | None = None,
        value_embedding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, C) -> (x (B, T, C), attention weights (B, H, T, S) if need_weights else None).

        `value_embedding` (B, T, C) goes to the attention's values (model.value_embeddings).
        """
        attn_out, weights = self.attn(
            self.norm_attn(x),
            cache=cache,
            need_weights=need_weights,
            bias=bias,
            value_embedding=value_embedding,
        )
        x = x + attn_out  # tokens exchange information
        x = x + self.mlp(self.norm_mlp(x))  # each position computes on its own
        return x, weights
