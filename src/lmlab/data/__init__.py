"""Data sets: one module per corpus or task, each fetched and verified on first use."""

from __future__ import annotations

from pathlib import Path

from lmlab.config import DataConfig
from lmlab.data import shakespeare

SCAN_VOCAB_SIZE = 23  # 4 specials, 13 command words, 6 actions


def known_vocab_size(config: DataConfig, data_dir: Path | None = None) -> int:
    """Vocabulary size of a configured data set (for `lmlab info`), reading data only when it must."""
    if config.dataset == "text":  # the corpus decides the character set; read it
        from lmlab.data.corpus import load_corpus  # imports this package: load lazily

        return load_corpus(config, data_dir).tokenizer.vocab_size
    if config.dataset == "shakespeare":
        # a BPE learns exactly bpe_vocab_size ids unless the corpus runs out of pairs (not Shakespeare)
        return config.bpe_vocab_size if config.tokenizer == "bpe" else shakespeare.CHAR_VOCAB_SIZE
    if config.dataset == "arithmetic":
        return config.p + 6  # 4 specials, the residues 0 … p-1, the operator and "="
    if not config.train_file:
        return SCAN_VOCAB_SIZE
    from lmlab.data.pairs import load_pair_task  # imports this package: load lazily

    return load_pair_task(config, data_dir).tokenizer.vocab_size
