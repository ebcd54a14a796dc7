"""Word-level tokenizer: whitespace-separated words, with special tokens for sequence tasks.

Ids 0..3 are the specials <pad>, <s>, </s>, <unk>; the words follow in order of first appearance
(SCAN: 13 command words, 6 actions, 23 tokens in all). Unknown words map to <unk>.
"""

from __future__ import annotations

from typing import Any

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")


class WordTokenizer:
    def __init__(self, words: list[str]) -> None:
        self.tokens = [*SPECIAL_TOKENS, *(w for w in words if w not in SPECIAL_TOKENS)]
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.token_to_id) == len(self.tokens), "words must be distinct"

    @classmethod
    def fit(cls, texts: list[str]) -> WordTokenizer:
        return cls(list(dict.fromkeys(word for text in texts for word in text.split())))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def is_character_level(self) -> bool:
        return False

    @property
    def pad_id(self) -> int:
        return self.token_to_id["<pad>"]

    @property
    def bos_id(self) -> int:
        return self.token_to_id["<s>"]

    @property
    def eos_id(self) -> int:
        return self.token_to_id["</s>"]

    @property
    def unk_id(self) -> int:
        return self.token_to_id["<unk>"]

    def unknown_words(self, text: str) -> list[str]:
        return sorted({w for w in text.split() if w not in self.token_to_id})

    def encode(self, text: str) -> list[int]:
        return [self.token_to_id.get(word, self.unk_id) for word in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.tokens[i] for i in ids)

    def token_text(self, token_id: int) -> str:
        return self.tokens[token_id]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "word", "tokens": self.tokens}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WordTokenizer:
        return cls(raw["tokens"])
