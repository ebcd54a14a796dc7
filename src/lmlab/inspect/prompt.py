"""A prompt typed by a user, as the ids (and, for pair tasks, the segments) a model reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from lmlab.data.seq2seq import TARGET_MARKER, encode_prompt
from lmlab.errors import LmlabError
from lmlab.tokenizers import Tokenizer

log = logging.getLogger(__name__)


def start_text(tokenizer: Tokenizer) -> str:
    """Where a text sample starts when no prompt is given: a newline, as nanoGPT; a tokenizer with no
    newline token (course_bpe reads its lines joined) starts from its first single capital letter."""
    if tokenizer.encode("\n"):
        return "\n"
    texts = [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]
    return next((t for t in texts if len(t) == 1 and t.isupper()), texts[0])


@dataclass(frozen=True)
class Prompt:
    ids: list[int]  # (T,)
    segments: list[int] | None  # (T,) 0 source, 1 target, for pair tasks; None for running text

    def last(self, n: int | None) -> Prompt:
        """The last n tokens (all when n is None): what a model with a context of n positions reads."""
        if n is None or len(self.ids) <= n:
            return self
        return Prompt(self.ids[-n:], self.segments[-n:] if self.segments is not None else None)

    def fit(self, context: int | None) -> Prompt:
        """`last(context)`, with a one-line note when the prompt is cut: the one cropping rule that
        sampling, next-token lists, attention maps and reports share (as nanoGPT, the newest tokens stay)."""
        if context is None or len(self.ids) <= context:
            return self
        count = len(self.ids)
        log.warning(
            f"the prompt has {count} tokens but the model reads at most {context}: using its last {context}"
        )
        return self.last(context)

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (1, T) and segments (1, T) or None, on `device`."""
        idx = torch.tensor([self.ids], device=device)
        return idx, torch.tensor([self.segments], device=device) if self.segments is not None else None


def read_prompt(tokenizer: Tokenizer, text: str, is_pair_task: bool) -> Prompt:
    """Pair tasks read `<s> source [OUT: target]` (unknown words are an error), with their segments;
    text models read the text's tokens."""
    if is_pair_task:
        unknown = tokenizer.unknown_words(text.replace(TARGET_MARKER, " "))
        if unknown:
            raise LmlabError(f"the prompt has words this model does not know: {' '.join(unknown)}")
        ids, segments = encode_prompt(tokenizer, text)
        prompt = Prompt(ids, segments)
    else:
        prompt = Prompt(tokenizer.encode(text), None)
    if not prompt.ids:
        raise LmlabError("the prompt is empty; give at least one token with --prompt")
    return prompt
