"""Choosing the next token from logits: temperature, top-k, nucleus (top-p), greedy at temperature 0."""

from __future__ import annotations

import torch


def next_token_distribution(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """logits (B, V) -> probabilities (B, V): softmax(logits / temperature), top-k and top-p filtered."""
    assert temperature > 0, "temperature 0 is greedy decoding; handled by sample_next"
    # shifted to <= 0, divided by at least float32's smallest number: a tiny temperature gives -inf, not NaN
    logits = logits.float() - logits.float().amax(dim=-1, keepdim=True)
    logits = logits / max(temperature, torch.finfo(torch.float32).tiny)
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V) mass of likelier tokens
        drop = mass_before >= top_p
        drop[..., 0] = False  # the top token always stays (a top_p below float32's range reads as 0)
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (B, V) -> (token ids (B, 1), their probability under the untempered model (B, 1))."""
    model_probs = torch.softmax(logits.float(), dim=-1)
    if temperature == 0:
        token = logits.argmax(dim=-1, keepdim=True)
    else:
        probs = next_token_distribution(logits, temperature, top_k, top_p)
        token = torch.multinomial(probs, num_samples=1, generator=generator)
    return token, model_probs.gather(-1, token)
