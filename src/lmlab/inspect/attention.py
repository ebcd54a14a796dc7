"""The attention pattern of every layer and head on one prompt, with the model's next-token guess."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.errors import LmlabError
from lmlab.inspect.prompt import read_prompt
from lmlab.tokenizers import Tokenizer
from lmlab.tokenizers.labels import visible_token


@dataclass(frozen=True)
class AttentionMap:
    tokens: list[str]  # the T tokens read as visible labels (" the" -> "␣the"), <s> first for pair tasks
    attentions: torch.Tensor  # (n_layer, n_head, T, T)
    next_token: str  # the likeliest token after the prompt
    probability: float  # its probability
    text: str  # the prompt as read: its last block_size tokens, words space-separated for pair tasks


@torch.inference_mode()
def attention_map(model: nn.Module, tokenizer: Tokenizer, prompt: str, is_pair_task: bool) -> AttentionMap:
    """Run `prompt` through an attention model and return its attention grid and next-token guess.

    A prompt longer than the model's context is cut to its last context_size tokens, with a note.
    """
    read = read_prompt(tokenizer, prompt, is_pair_task).fit(model.context_size)
    idx, segments = read.tensors(next(model.parameters()).device)
    try:
        inspection = model.inspect(idx, segments)
    except NotImplementedError:
        inspection = None
    if inspection is None or inspection.attentions is None:
        raise LmlabError(
            f"a model.kind={model.config.kind} model has no attention to draw; use a gpt or attention run"
        )
    probabilities = torch.softmax(inspection.logits[0, -1].float(), dim=-1)
    best = int(probabilities.argmax())
    tokens = [tokenizer.token_text(i) for i in read.ids]
    return AttentionMap(
        [visible_token(t) for t in tokens],
        inspection.attentions[0].cpu(),
        tokenizer.token_text(best),
        float(probabilities[best]),
        (" " if is_pair_task else "").join(tokens),
    )
