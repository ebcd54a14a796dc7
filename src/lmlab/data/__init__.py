"""Data sets: one module per corpus or task, each fetched and verified on first use."""

from __future__ import annotations

from lmlab.config import DataConfig
from lmlab.data import shakespeare


def known_vocab_size(config: DataConfig) -> int:
    """Vocabulary size of a configured corpus and tokenizer without reading the data (for `lmlab info`)."""
    assert config.dataset == "shakespeare" and config.tokenizer == "char", config
    return shakespeare.CHAR_VOCAB_SIZE
