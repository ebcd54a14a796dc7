"""Tokenizers: text <-> integer ids, saved as JSON with every run."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.tokenizers.char import CharTokenizer

Tokenizer = CharTokenizer  # the one kind so far; BPE and word tokenizers join behind the same interface


def load_tokenizer(path: Path) -> Tokenizer:
    """Read `tokenizer.json` from a run directory."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LmlabError(f"no tokenizer at {path}; the run directory is incomplete, train again") from None
    except json.JSONDecodeError:
        raise LmlabError(f"{path} is not valid JSON; the run directory is damaged, train again") from None
    if raw.get("type") != "char":
        raise LmlabError(f"{path}: tokenizer type {raw.get('type')!r} is not known to this lmlab version")
    return CharTokenizer.from_dict(raw)


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> None:
    path.write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=1))
