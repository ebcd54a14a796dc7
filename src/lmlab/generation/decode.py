"""Autoregressive decoding, with or without the cache, past block_size included.

The cache is whatever the model keeps between steps: keys and values for attention models, the
hidden and cell states for the LSTM (which then reads each token once, however long the sequence).

Context window past block_size: a transformer sees at most block_size positions. When the sequence
outgrows the window, the window slides forward so that it keeps the newest 3/4 of block_size
tokens, and the cache is refilled from them in one forward pass (learned absolute positions
change when the window moves, so cached keys cannot be reused). Decoding then continues one token
at a time until the window is full again. Every token therefore sees between 3/4 and all of
block_size tokens of context, and the refill costs one prefill per block_size/4 new tokens.
Decoding without the cache follows the same windows, so both give identical tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from lmlab.generation.sampling import sample_next
from lmlab.models.base import require_causal

KEPT_FRACTION_ON_SLIDE = 0.75  # more kept context = better samples but more frequent refills


def stream(
    model,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (token (B, 1), its model probability (B, 1)) for each of max_new_tokens new positions.

    `model` provides context_size (the most tokens it conditions on, None for unbounded),
    forward(idx, cache=...) -> logits and new_cache(batch_size) (lmlab.models.base's contract).
    """
    require_causal(model)
    block_size = model.context_size or math.inf
    keep = max(1, int(block_size * KEPT_FRACTION_ON_SLIDE)) if block_size != math.inf else 0
    sequence = idx
    window_start = int(max(0, sequence.size(1) - block_size))
    cache = _new_cache(model, idx.size(0)) if use_cache else None
    logits = _last_logits(model, sequence[:, window_start:], cache)  # (B, V)
    for step in range(max_new_tokens):
        token, prob = sample_next(logits, temperature, top_k, top_p, generator)
        yield token, prob
        if step == max_new_tokens - 1:
            return
        sequence = torch.cat([sequence, token], dim=1)
        if sequence.size(1) - window_start > block_size:
            window_start = sequence.size(1) - keep
            if cache is not None:
                cache.reset()
            logits = _last_logits(model, sequence[:, window_start:], cache)
        elif cache is not None:
            logits = _last_logits(model, token, cache)
        else:
            logits = _last_logits(model, sequence[:, window_start:], None)


# inference_mode around each call, not around the generator: a suspended generator must not leave
# the caller's code in inference mode.
@torch.inference_mode()
def _new_cache(model, batch_size: int):
    return model.new_cache(batch_size)


@torch.inference_mode()
def _last_logits(model, ids: torch.Tensor, cache) -> torch.Tensor:
    return model(ids, cache=cache)[:, -1]  # (B, V)


def generate(model, idx: torch.Tensor, max_new_tokens: int, **options) -> torch.Tensor:
    """idx (B, T) -> (B, T + max_new_tokens): the prompt followed by the decoded tokens."""
    new_tokens = [token for token, _ in stream(model, idx, max_new_tokens, **options)]
    return torch.cat([idx, *new_tokens], dim=1)
