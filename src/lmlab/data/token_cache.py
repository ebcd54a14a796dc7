"""Encoded corpora on disk, memory-mapped: encode once, and a second run reads the ids without RAM copies.

CACHE/corpora/<key>.bin holds the ids as uint16 (vocabularies up to 65,536) or int32, written in
pieces and renamed into place when complete; <key> is the SHA-256 of the corpus bytes, the tokenizer
and the split, so any change makes a new file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from lmlab.data.download import cache_dir
from lmlab.tokenizers import Tokenizer


def cache_key(corpus_digest: str, tokenizer: Tokenizer, part: str) -> str:
    described = json.dumps(tokenizer.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{corpus_digest}|{part}|{described}".encode()).hexdigest()[:32]


def id_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.int32)


def cached_ids(
    key: str, vocab_size: int, encode_pieces: Callable[[], Iterator[np.ndarray]], folder: Path | None = None
) -> torch.Tensor:
    """The ids stored under `key`, memory-mapped; encoded (piece by piece) and stored first if missing."""
    folder = folder or cache_dir() / "corpora"
    path = folder / f"{key}.bin"
    dtype = id_dtype(vocab_size)
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            for piece in encode_pieces():
                f.write(np.asarray(piece, dtype=dtype).tobytes())
        os.replace(tmp, path)
    if path.stat().st_size == 0:
        return torch.zeros(0, dtype=torch.int64)
    # copy-on-write mapping: pages are read from disk on demand and the tensor is writable as torch wants
    return torch.from_numpy(np.memmap(path, dtype=dtype, mode="c"))
