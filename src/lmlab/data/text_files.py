"""Your own corpus: a text file, a folder of .txt files, or a glob of them, read as one text."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

from lmlab.errors import LmlabError


def corpus_files(data_file: str) -> list[Path]:
    """The files `data_file` names: itself, every .txt under a folder, or a glob's matches; sorted."""
    if not data_file:
        raise LmlabError("data.dataset=text needs a corpus: --data-file PATH (a file, a folder or a glob)")
    path = Path(data_file).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise LmlabError(
                f"{path} holds no .txt files; point --data-file at a text file or a folder of them"
            )
        return files
    if glob.has_magic(data_file):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise LmlabError(f"--data-file {data_file!r} matches no files; check the pattern")
        return files
    raise LmlabError(
        f"{path} does not exist; give --data-file an existing file, folder or glob of .txt files"
    )


@dataclass(frozen=True)
class CorpusText:
    text: str  # the files' text joined by newlines
    digest: str  # SHA-256 over the files' bytes, in order: the corpus's identity for the token cache


def read_corpus(files: list[Path], encoding: str) -> CorpusText:
    """Read every file once; bytes that do not decode name the file and offset."""
    texts, digest = [], hashlib.sha256()
    for path in files:
        raw = path.read_bytes()
        digest.update(raw)
        digest.update(b"\0")  # file boundaries count: a|bc and ab|c are different corpora
        try:
            texts.append(raw.decode(encoding))
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.start + 4]
            raise LmlabError(
                f"{path} is not valid {encoding} at byte {error.start} ({bad!r}); "
                "give its encoding with --set data.encoding=... (latin-1 reads any bytes)"
            ) from None
        except (LookupError, UnicodeEncodeError):  # an unknown name, or one of undecodable bytes
            raise LmlabError(
                f"data.encoding={encoding!r} is not a known text encoding; e.g. utf-8, latin-1"
            ) from None
    text = "\n".join(texts)
    if not text.strip():
        raise LmlabError(
            f"the corpus ({len(files)} file(s) from {files[0]}) is empty; give files with text in them"
        )
    return CorpusText(text, digest.hexdigest())


def safe_split_points(text: str, every: int) -> list[int]:
    """Positions about `every` characters apart where the text may be cut and encoded in pieces
    without changing its tokens: just after a newline that a non-space character follows (GPT-2's
    pre-tokenisation never joins across such a point)."""
    points, start = [0], 0
    while start + every < len(text):
        cut = text.find("\n", start + every)
        while cut != -1 and (cut + 1 >= len(text) or text[cut + 1].isspace()):
            cut = text.find("\n", cut + 1)
        if cut == -1:
            break
        points.append(cut + 1)
        start = cut + 1
    return [*points, len(text)]
