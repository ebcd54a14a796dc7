"""Stop sequences: end a sample at the first occurrence of any stop string, streamed or batched."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmlab.errors import LmlabError
from lmlab.generation.decode import stream
from lmlab.generation.text_stream import TextStream
from lmlab.tokenizers import Tokenizer


def parse_stop(text: str) -> str:
    """A --stop argument with backslash escapes read as in Python ("\\n\\n" is two newlines)."""
    try:
        stop = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        raise LmlabError(
            f"--stop {text!r} has a broken backslash escape; write e.g. --stop '\\n\\n'"
        ) from None
    if not stop:
        raise LmlabError("--stop needs a non-empty string, e.g. --stop '\\n\\n'")
    return stop


class StopFilter:
    """Feed generated text piece by piece; get back what may be shown, up to the first stop string.

    Text that could be the start of a stop string is held back until the next piece decides it, so a
    stop that arrives split over several tokens is never half printed.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if self.stopped:
            return ""
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            shown, self.pending = self.pending[:cut], ""
            return shown
        held = self._possible_stop_start()
        shown, self.pending = (
            self.pending[: len(self.pending) - held],
            self.pending[len(self.pending) - held :],
        )
        return shown

    def flush(self) -> str:
        shown, self.pending = self.pending, ""
        return shown

    def _possible_stop_start(self) -> int:
        """Length of the longest end of the pending text that begins some stop string."""
        longest = 0
        for stop in self.stops:
            for length in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if stop.startswith(self.pending[-length:]):
                    longest = length
                    break
        return longest


def generate_texts(
    model,
    tokenizer: Tokenizer,
    prompt_ids: torch.Tensor,
    num_samples: int,
    max_new_tokens: int,
    stops: Sequence[str] = (),
    **options,
) -> list[str]:
    """`num_samples` continuations of one prompt (1, T), decoded as one batch; each ends before its
    first stop string or after max_new_tokens tokens. Decoding ends early once every row has stopped."""
    rows = prompt_ids.expand(num_samples, -1)
    texts = [TextStream(tokenizer) for _ in range(num_samples)]
    filters = [StopFilter(stops) for _ in range(num_samples)]
    shown = [""] * num_samples
    for token, _ in stream(model, rows, max_new_tokens, **options):
        for row, token_id in enumerate(token[:, 0].tolist()):
            shown[row] += filters[row].push(texts[row].push(token_id))
        if stops and all(f.stopped for f in filters):
            break
    for row in range(num_samples):
        shown[row] += filters[row].push(texts[row].flush()) + filters[row].flush()
    return shown
