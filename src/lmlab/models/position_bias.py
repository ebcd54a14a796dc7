"""Position encodings that act on attention scores, not on embeddings: ALiBi and T5's relative bias.

Both add a bias b[h, t, s] that depends only on the distance between query t and key s, so they
carry over to sequences longer than any seen in training. The GPT computes the bias once per forward
pass, folds the causal mask into it as -inf, and hands the one (1, H, T, S) tensor to every layer:
the explicit path adds it to the scores, SDPA takes it as its additive `attn_mask`, and with a
key/value cache the T new queries are the last T of S positions, so the same function serves.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.layers import causal_mask

# T5's defaults (Raffel et al. 2020): 32 buckets, exact up to distance 16, log-spaced up to 128,
# every distance past 128 in the last bucket
RELATIVE_BUCKETS = 32
RELATIVE_MAX_DISTANCE = 128


def alibi_slopes(n_head: int) -> torch.Tensor:
    """(H,) the geometric slopes of Press et al. 2022: 2^(-8/H), 2^(-16/H), ..., 2^-8. For H not a
    power of two, the power of two below's slopes plus every other slope of the one above (theirs)."""
    below = 2 ** math.floor(math.log2(n_head))
    slopes = [2 ** (-8 * (i + 1) / below) for i in range(below)]
    if below < n_head:
        slopes += [2 ** (-8 * (i + 1) / (2 * below)) for i in range(0, 2 * below, 2)][: n_head - below]
    return torch.tensor(slopes)


def relative_buckets(
    distance: torch.Tensor,
    causal: bool,
    n_buckets: int = RELATIVE_BUCKETS,
    max_distance: int = RELATIVE_MAX_DISTANCE,
) -> torch.Tensor:
    """Bucket of each query - key distance (int64, any shape): small distances get a bucket each,
    larger ones log-spaced buckets up to max_distance. Causal: keys ahead (masked anyway) share bucket
    0; bidirectional: half the buckets for keys ahead."""
    offset = torch.zeros_like(distance)
    if not causal:
        n_buckets //= 2
        offset = (distance < 0).long() * n_buckets
        distance = distance.abs()
    distance = distance.clamp(min=0)
    exact = n_buckets // 2
    # log(d / exact) / log(max_distance / exact) in [0, 1) spreads the rest over the remaining buckets
    spread = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    far = (exact + (spread * (n_buckets - exact)).long()).clamp(max=n_buckets - 1)
    return offset + torch.where(distance < exact, distance, far)


class PositionBias(nn.Module):
    """The additive attention bias of model.position=alibi (fixed slopes) or relative (a learned scalar
    per head and distance bucket, shared by all layers as in T5), with the mask folded in."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.kind = config.position
        self.causal = config.causal
        self.window = config.attention_window
        if self.kind == "alibi":
            self.register_buffer("slopes", alibi_slopes(config.n_head), persistent=False)  # (H,)
        else:
            self.table = nn.Embedding(RELATIVE_BUCKETS, config.n_head)  # bucket -> one bias per head

    def forward(self, n_query: int, n_key: int, device: torch.device) -> torch.Tensor:
        """(1, H, T, S) float32: bias + mask for T queries, the last T of S positions (-inf: masked)."""
        query = torch.arange(n_key - n_query, n_key, device=device)[:, None]
        distance = query - torch.arange(n_key, device=device)[None, :]  # (T, S): how far back the key is
        if self.kind == "alibi":
            bias = -self.slopes[:, None, None] * distance.abs()  # (H, T, S): linear in the distance
        else:
            bias = self.table(relative_buckets(distance, self.causal)).permute(
                2, 0, 1
            )  # (T, S, H) -> (H, T, S)
        if self.causal:
            bias = bias.masked_fill(~causal_mask(n_query, n_key, device, self.window), float("-inf"))
        return bias.unsqueeze(0)
