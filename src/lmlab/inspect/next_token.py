"""The model's distribution over the next token after a prompt: the likeliest tokens, with probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.inspect.prompt import read_prompt
from lmlab.models.base import require_causal
from lmlab.tokenizers import Tokenizer


@dataclass(frozen=True)
class NextToken:
    token_id: int
    text: str  # the token as readable text
    probability: float


@torch.inference_mode()
def next_tokens(
    model: nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    is_pair_task: bool,
    top: int,
    temperature: float = 1.0,
) -> list[NextToken]:
    """The `top` likeliest next tokens after `prompt`, most likely first, with their probabilities
    under softmax(logits / temperature) (1.0: the model's own; 0: all mass on the likeliest token).

    A prompt longer than the model's context is cut to its last context_size tokens, with a note.
    """
    require_causal(model)
    read = read_prompt(tokenizer, prompt, is_pair_task).fit(model.context_size)
    idx, segments = read.tensors(next(model.parameters()).device)
    logits = model(idx, segments=segments)  # (1, T, V)
    probabilities = tempered(logits[0, -1].float(), temperature)
    values, indices = probabilities.topk(min(top, probabilities.numel()))
    return [
        NextToken(int(i), tokenizer.token_text(int(i)), float(p))
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature); a temperature at or near 0 puts the mass on the likeliest token(s)."""
    if temperature == 1.0:
        return torch.softmax(logits, dim=-1)
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.numel()).float()
    shifted = logits - logits.max()  # <= 0, so a tiny temperature gives -inf, not NaN
    return torch.softmax(shifted / max(temperature, torch.finfo(torch.float32).tiny), dim=-1)
