"""Find a data file: a local copy, the user's cache, or a verified download from its canonical address."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lmlab.errors import LmlabError

log = logging.getLogger(__name__)

DATA_DIR_ENV = "LMLAB_DATA_DIR"
CACHE_DIR_ENV = "LMLAB_CACHE_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """A public file: where it lives, its SHA-256, and its path relative to a data directory."""

    url: str
    sha256: str
    relative_path: str  # e.g. "tinyshakespeare/input.txt"; also looked up by its bare file name


def cache_dir() -> Path:
    """`$LMLAB_CACHE_DIR`, else `$XDG_CACHE_HOME/lmlab`, else `~/.cache/lmlab`."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "lmlab"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate(remote: RemoteFile, data_dir: Path | None = None) -> Path:
    """Path of a verified copy of `remote`.

    Order: `data_dir` (argument, else `$LMLAB_DATA_DIR`), which must hold the file; else the cache,
    downloading into it on first use. Every copy is checked against the SHA-256.
    """
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV])
    if data_dir is not None:
        return _verified(_find_in(Path(data_dir).expanduser(), remote), remote)
    return _cached(remote)


def locate_or_fetch(remote: RemoteFile, data_dir: Path | None = None) -> Path:
    """A verified local copy (data directory or cache), else a verified download into the cache: for
    files the user asked for by name (SCAN's data.source=official), which a data directory may lack."""
    return find_local(remote, data_dir) or _cached(remote)


def _cached(remote: RemoteFile) -> Path:
    """The cache's verified copy of `remote`, downloaded into it on first use."""
    cached = cache_dir() / remote.relative_path
    if cached.exists():
        return _verified(cached, remote)
    _download(remote, cached)
    return cached


def find_local(remote: RemoteFile, data_dir: Path | None = None) -> Path | None:
    """A verified local copy of `remote` (data directory or cache), or None; never downloads."""
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV])
    if data_dir is not None:
        try:
            return _verified(_find_in(Path(data_dir).expanduser(), remote), remote)
        except LmlabError:
            if any(_candidates(Path(data_dir).expanduser(), remote)):
                raise  # present but damaged: say so rather than silently use something else
            return None
    cached = cache_dir() / remote.relative_path
    return _verified(cached, remote) if cached.exists() else None


def _candidates(data_dir: Path, remote: RemoteFile) -> list[Path]:
    name = Path(remote.relative_path).name
    return [p for p in (data_dir / remote.relative_path, data_dir / name) if p.is_file()]


def _find_in(data_dir: Path, remote: RemoteFile) -> Path:
    name = Path(remote.relative_path).name
    for candidate in (data_dir / remote.relative_path, data_dir / name, data_dir):
        if candidate.is_file():
            return candidate
    raise LmlabError(f"{name} not found in {data_dir}; put it at {data_dir / remote.relative_path}")


def _verified(path: Path, remote: RemoteFile) -> Path:
    actual = sha256_of(path)
    if actual != remote.sha256:
        raise LmlabError(
            f"{path} has SHA-256 {actual[:12]}…, expected {remote.sha256[:12]}…; "
            f"delete it or replace it with the file from {remote.url}"
        )
    return path


def _download(remote: RemoteFile, destination: Path) -> None:
    log.info("downloading %s to %s", remote.url, destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise LmlabError(
            f"could not download {remote.url} ({error}); with no network, put the file at {destination} "
            f"or pass --data-dir DIR (or set {DATA_DIR_ENV}) to a folder holding {remote.relative_path}"
        ) from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != remote.sha256:
        raise LmlabError(
            f"download of {remote.url} has SHA-256 {actual[:12]}…, expected {remote.sha256[:12]}…"
        )
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as tmp:
        tmp.write(payload)
    os.replace(tmp.name, destination)  # atomic: a kill never leaves half a file in the cache
