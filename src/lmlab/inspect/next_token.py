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
    model: nn.Module, tokenizer: Tokenizer, prompt: str, is_pair_task: bool, top: int
) -> list[NextToken]:
    """The `top` likeliest next tokens after `prompt`, most likely first.

    A prompt longer than the model's context is cut to its last context_size tokens, with a note.
    """
    require_causal(model)
    read = read_prompt(tokenizer, prompt, is_pair_task).fit(model.context_size)
    idx, segments = read.tensors(next(model.parameters()).device)
    logits = model(idx, segments=segments)  # (1, T, V)
    probabilities = torch.softmax(logits[0, -1].float(), dim=-1)
    values, indices = probabilities.topk(min(top, probabilities.numel()))
    return [
        NextToken(int(i), tokenizer.token_text(int(i)), float(p))
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]
