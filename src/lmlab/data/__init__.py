"""Data sets: one module per corpus or task, each fetched and verified on first use."""

from __future__ import annotations

from pathlib import Path

from lmlab.config import DataConfig
from lmlab.data import arithmetic, scan, shakespeare
from lmlab.tokenizers.word import WordTokenizer


def known_vocab_size(config: DataConfig, data_dir: Path | None = None) -> int:
    """Vocabulary size of a configured data set (for `lmlab info`), reading data only when it must.

    Pair tasks build the tokenizer a run would (arithmetic's from p and the operator, SCAN's from the
    grammar's commands and actions); Tiny Shakespeare's characters are a checked fact of the file.
    """
    if config.dataset == "text":  # the corpus decides the character set; read it
        from lmlab.data.corpus import load_corpus  # imports this package: load lazily

        return load_corpus(config, data_dir).tokenizer.vocab_size
    if config.dataset == "shakespeare":
        # a BPE learns exactly bpe_vocab_size ids unless the corpus runs out of pairs (not Shakespeare)
        bpe = config.tokenizer in ("bpe", "course_bpe")
        return config.bpe_vocab_size if bpe else shakespeare.CHAR_VOCAB_SIZE
    if config.dataset == "arithmetic":
        return arithmetic.arithmetic_tokenizer(config.p, config.operator).vocab_size
    if not config.train_file:  # every named split uses the grammar's words: the 20,910 commands hold them all
        return WordTokenizer.fit([text for pair in scan.generate_commands() for text in pair]).vocab_size
    from lmlab.data.pairs import load_pair_task  # imports this package: load lazily

    return load_pair_task(config, data_dir).tokenizer.vocab_size
