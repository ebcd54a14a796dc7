"""Turn generated token ids into text as they arrive, without splitting a multi-byte character."""

from __future__ import annotations

from lmlab.tokenizers import Tokenizer

REPLACEMENT = "\ufffd"  # what a byte-level token that ends inside a UTF-8 character decodes to


class TextStream:
    """Feed ids one at a time; get back the text they complete (possibly "" while a character is open).

    Character and word tokens are always whole; a byte-level BPE token can hold part of a character,
    so the stream holds text back until the bytes seen so far decode cleanly.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.pending: list[int] = []

    def push(self, token_id: int) -> str:
        self.pending.append(token_id)
        text = self.tokenizer.decode(self.pending)
        if text.endswith(REPLACEMENT) and len(self.pending) < 4:  # a UTF-8 character is at most 4 bytes
            return ""
        self.pending = []
        return text

    def flush(self) -> str:
        """Whatever is still held back (a character cut off by the end of generation shows as U+FFFD)."""
        text = self.tokenizer.decode(self.pending) if self.pending else ""
        self.pending = []
        return text
