"""Character-level tokenizer: one id per distinct character of the corpus, in sorted order."""

from __future__ import annotations

from typing import Any

import numpy as np

from lmlab.errors import LmlabError


class CharTokenizer:
    """Maps each character seen in the training corpus to an id; unseen characters are refused."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = list(chars)
        self.char_to_id = {c: i for i, c in enumerate(self.chars)}
        assert len(self.char_to_id) == len(self.chars), "characters must be distinct"

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def is_character_level(self) -> bool:
        """Each token is exactly one character, so loss per token is loss per character."""
        return True

    def unknown_characters(self, text: str) -> list[str]:
        return sorted(set(text) - self.char_to_id.keys())

    def encode(self, text: str) -> list[int]:
        unknown = self.unknown_characters(text)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise LmlabError(
                f"the text has {len(unknown)} character(s) this tokenizer never saw in training: {shown}; "
                "remove or replace them"
            )
        return [self.char_to_id[c] for c in text]

    def encode_array(self, text: str) -> np.ndarray:
        """Encode a whole corpus fast through a code-point lookup table; returns int64 ids."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.full(max(codes.max(initial=0), max(map(ord, self.chars))) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(self.vocab_size)
        ids = table[codes]
        if (ids < 0).any():
            self.encode(text)  # raises with the unknown characters named
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def token_text(self, token_id: int) -> str:
        return self.chars[token_id]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CharTokenizer:
        return cls(raw["chars"])
