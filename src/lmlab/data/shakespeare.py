"""Tiny Shakespeare (Karpathy's char-rnn corpus): 1,115,394 characters, 65 distinct."""

from __future__ import annotations

from pathlib import Path

from lmlab.data.download import RemoteFile, locate

TINY_SHAKESPEARE = RemoteFile(
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    relative_path="tinyshakespeare/input.txt",
)
CHAR_VOCAB_SIZE = 65  # distinct characters in the file, checked by a test


def load_text(data_dir: Path | None = None) -> str:
    return locate(TINY_SHAKESPEARE, data_dir).read_text(encoding="utf-8")
