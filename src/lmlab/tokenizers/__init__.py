"""Tokenizers: text <-> integer ids, saved as JSON with every run."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.tokenizers.bpe import BPETokenizer
from lmlab.tokenizers.char import CharTokenizer
from lmlab.tokenizers.course_bpe import CourseBPETokenizer
from lmlab.tokenizers.hf_bpe import HFBPETokenizer
from lmlab.tokenizers.word import WordTokenizer

# encode, decode, token_text, vocab_size, to_dict / from_dict
Tokenizer = CharTokenizer | WordTokenizer | BPETokenizer | HFBPETokenizer | CourseBPETokenizer
TOKENIZER_TYPES: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "bpe": BPETokenizer,
    "hf_bpe": HFBPETokenizer,
    "course_bpe": CourseBPETokenizer,
}
BPE_BACKENDS = {"lmlab": BPETokenizer, "hf": HFBPETokenizer}  # data.bpe_backend


def fit_bpe(text: str, vocab_size: int, backend: str = "lmlab") -> BPETokenizer | HFBPETokenizer:
    """A byte-level BPE of `vocab_size` ids (256 bytes + merges) learned from `text` by lmlab or HF."""
    if backend not in BPE_BACKENDS:
        raise LmlabError(f"BPE backend {backend!r} is unknown; choose one of {tuple(BPE_BACKENDS)}")
    return BPE_BACKENDS[backend].fit(text, vocab_size)


def fit_text_tokenizer(kind: str, text: str, train_end: int, vocab_size: int, backend: str) -> Tokenizer:
    """The tokenizer data.tokenizer=`kind` learns for a running text: characters from all of `text`,
    BPE merges from its train part `text[:train_end]` only (course_bpe takes its alphabet from all)."""
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "course_bpe":
        return CourseBPETokenizer.fit(text[:train_end], vocab_size, alphabet_text=text)
    return fit_bpe(text[:train_end], vocab_size, backend)


def load_tokenizer(path: Path) -> Tokenizer:
    """Read `tokenizer.json` from a run directory."""
    fix = (
        "copy tokenizer.json from a copy of this run; a char or word tokenizer is rebuilt identically by a "
        "new run with the same preset and data settings (e.g. --set train.max_steps=1)"
    )
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        missing = f"{path} is missing (the weights need the token ids they were trained with)"
        raise LmlabError(f"{missing}; {fix}") from None
    except json.JSONDecodeError:
        raise LmlabError(f"{path} is not valid JSON; {fix}") from None
    return tokenizer_from_dict(raw, source=str(path))


def tokenizer_from_dict(raw: dict, source: str = "tokenizer") -> Tokenizer:
    """The tokenizer `to_dict` described (as saved in tokenizer.json)."""
    kind = TOKENIZER_TYPES.get(raw.get("type"))
    if kind is None:
        raise LmlabError(f"{source}: tokenizer type {raw.get('type')!r} is not known to this lmlab version")
    return kind.from_dict(raw)


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> None:
    path.write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=1))
