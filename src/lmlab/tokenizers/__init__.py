"""Tokenizers: text <-> integer ids, saved as JSON with every run."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.tokenizers.char import CharTokenizer
from lmlab.tokenizers.word import WordTokenizer

Tokenizer = CharTokenizer | WordTokenizer  # encode, decode, vocab_size, to_dict / from_dict
TOKENIZER_TYPES: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
}


def load_tokenizer(path: Path) -> Tokenizer:
    """Read `tokenizer.json` from a run directory."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LmlabError(f"no tokenizer at {path}; the run directory is incomplete, train again") from None
    except json.JSONDecodeError:
        raise LmlabError(f"{path} is not valid JSON; the run directory is damaged, train again") from None
    kind = TOKENIZER_TYPES.get(raw.get("type"))
    if kind is None:
        raise LmlabError(f"{path}: tokenizer type {raw.get('type')!r} is not known to this lmlab version")
    return kind.from_dict(raw)


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> None:
    path.write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=1))
