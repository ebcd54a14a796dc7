"""Byte-level BPE backed by Hugging Face `tokenizers` (Rust), behind lmlab's tokenizer interface.

The same recipe as lmlab's own `BPETokenizer`: GPT-2 regex chunks, the 256-byte initial alphabet
(so every string round-trips), no prefix space. Ids differ from lmlab's: the special tokens come
first, then the 256 byte symbols in Hugging Face's order, then the merges. As in lmlab, special
tokens in ordinary text are encoded as plain text, never parsed out.

`tokenizers` is optional and imported only when this backend is used: pip install 'lmlab[hf]'.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from lmlab.errors import LmlabError
from lmlab.tokenizers.bpe import check_vocab_request


def _hf_tokenizers() -> ModuleType:
    try:
        import tokenizers
    except ImportError:
        raise LmlabError(
            "the hf_bpe tokenizer needs Hugging Face tokenizers; pip install 'lmlab[hf]'"
        ) from None
    return tokenizers


class HFBPETokenizer:
    """Wraps a trained `tokenizers.Tokenizer` (BPE model, ByteLevel pre-tokenizer and decoder)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.encode_special_tokens = True  # specials in the text are plain text, as in lmlab

    @classmethod
    def fit(cls, text: str, vocab_size: int, special_tokens: tuple[str, ...] = ()) -> HFBPETokenizer:
        """Train `tokenizers`' BpeTrainer on `text`; vocab_size counts specials, 256 bytes and merges."""
        check_vocab_request(vocab_size, special_tokens)
        hf = _hf_tokenizers()
        tokenizer = hf.Tokenizer(hf.models.BPE())
        tokenizer.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = hf.decoders.ByteLevel()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(special_tokens),
            initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator([text], trainer=trainer)  # one sequence: chunks as in lmlab's
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def is_character_level(self) -> bool:
        return False

    @property
    def special_tokens(self) -> tuple[str, ...]:
        added = self.tokenizer.get_added_tokens_decoder()
        return tuple(added[i].content for i in sorted(added))

    def special_id(self, token: str) -> int:
        if token not in self.special_tokens:
            raise LmlabError(f"{token!r} is not a special token here; choose one of {self.special_tokens}")
        return self.tokenizer.token_to_id(token)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_array(self, text: str) -> np.ndarray:
        """Encode a whole corpus; returns int64 ids."""
        return np.array(self.encode(text), dtype=np.int64)

    def decode(self, ids: list[int]) -> str:
        """Join the tokens' bytes; incomplete UTF-8 sequences become U+FFFD."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_text(self, token_id: int) -> str:
        """One token's bytes as text, for labels; a partial UTF-8 character shows as U+FFFD."""
        return self.decode([token_id])

    def to_dict(self) -> dict[str, Any]:
        return {"type": "hf_bpe", "tokenizer": self.tokenizer.to_str()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HFBPETokenizer:
        return cls(_hf_tokenizers().Tokenizer.from_str(raw["tokenizer"]))
