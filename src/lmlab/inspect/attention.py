"""The attention pattern of every layer and head on one prompt, with the model's next-token guess."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.errors import LmlabError
from lmlab.tokenizers import Tokenizer


@dataclass(frozen=True)
class AttentionMap:
    tokens: list[str]  # the T tokens read, <s> first for pair tasks
    attentions: torch.Tensor  # (n_layer, n_head, T, T)
    next_token: str  # the likeliest token after the prompt
    probability: float  # its probability


def prompt_ids(tokenizer: Tokenizer, prompt: str, is_pair_task: bool) -> list[int]:
    """Pair tasks read `<s> words…` (unknown words are an error); text models read the text's tokens."""
    if is_pair_task:
        unknown = tokenizer.unknown_words(prompt)
        if unknown:
            raise LmlabError(f"the prompt has words this model does not know: {' '.join(unknown)}")
        ids = [tokenizer.bos_id, *tokenizer.encode(prompt)]
    else:
        ids = tokenizer.encode(prompt)
    if not ids:
        raise LmlabError("the prompt is empty; give at least one token with --prompt")
    return ids


@torch.inference_mode()
def attention_map(model: nn.Module, tokenizer: Tokenizer, prompt: str, is_pair_task: bool) -> AttentionMap:
    """Run `prompt` through an attention model and return its attention grid and next-token guess."""
    ids = prompt_ids(tokenizer, prompt, is_pair_task)
    context = getattr(model, "context_size", None)
    if context is not None and len(ids) > context:
        raise LmlabError(
            f"the prompt has {len(ids)} tokens but the model reads at most {context}; shorten it"
        )
    device = next(model.parameters()).device
    idx = torch.tensor([ids], device=device)
    segments = torch.zeros_like(idx) if getattr(model.config, "segment_embeddings", False) else None
    try:
        inspection = model.inspect(idx, segments)
    except NotImplementedError:
        inspection = None
    if inspection is None or inspection.attentions is None:
        raise LmlabError(f"a model.kind={model.config.kind} model has no attention to draw; use a gpt run")
    probabilities = torch.softmax(inspection.logits[0, -1].float(), dim=-1)
    best = int(probabilities.argmax())
    tokens = [tokenizer.token_text(i) for i in ids]
    return AttentionMap(
        tokens, inspection.attentions[0].cpu(), tokenizer.token_text(best), float(probabilities[best])
    )
