import hashlib

import pytest
import torch

from lmlab.config import DataConfig
from lmlab.data import download, shakespeare
from lmlab.data.corpus import load_corpus, random_windows, sequential_windows
from lmlab.data.download import RemoteFile, locate
from lmlab.errors import LmlabError
from lmlab.tokenizers import CharTokenizer, load_tokenizer, save_tokenizer

from .conftest import SHARED_DATA


def test_tiny_shakespeare_facts():
    text = shakespeare.load_text()
    assert len(text) == 1_115_394
    assert len(set(text)) == shakespeare.CHAR_VOCAB_SIZE == 65


def test_split_is_by_position_ninety_ten():
    corpus = load_corpus(DataConfig())
    text = shakespeare.load_text()
    assert len(corpus.train) == int(0.9 * len(text)) and len(corpus.train) + len(corpus.val) == len(text)
    tokenizer = corpus.tokenizer
    assert tokenizer.decode(corpus.train[:20].tolist()) == text[:20]
    assert tokenizer.decode(corpus.val[-20:].tolist()) == text[-20:]


def test_char_tokenizer_round_trips_and_saves(tmp_path):
    tokenizer = CharTokenizer.fit("hello world")
    assert tokenizer.decode(tokenizer.encode("low")) == "low"
    assert tokenizer.encode_array("hello").tolist() == tokenizer.encode("hello")
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path / "tokenizer.json").chars == tokenizer.chars
    with pytest.raises(LmlabError, match="'Z'"):
        tokenizer.encode("Zebra")
    with pytest.raises(LmlabError, match="'Z'"):
        tokenizer.encode_array("Zebra")


def test_random_windows_are_shifted_pairs():
    ids = torch.arange(100)
    x, y = random_windows(ids, batch_size=5, block_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # contiguous windows


def test_random_windows_depend_only_on_the_seed():
    ids = torch.arange(1000)
    a = random_windows(ids, 4, 8, torch.Generator().manual_seed(7))[0]
    b = random_windows(ids, 4, 8, torch.Generator().manual_seed(7))[0]
    assert torch.equal(a, b)


def test_sequential_windows_cover_every_target_once():
    ids = torch.arange(103)
    targets = torch.cat([y.flatten() for _, y in sequential_windows(ids, block_size=10, batch_size=3)])
    assert sorted(targets.tolist()) == list(range(1, 103))


def _remote_for(path, relative="corpus/file.txt"):
    return RemoteFile(
        url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), relative_path=relative
    )


def test_download_verifies_and_caches(tmp_path, monkeypatch):
    source = tmp_path / "source.txt"
    source.write_text("some corpus")
    monkeypatch.delenv("LMLAB_DATA_DIR")
    monkeypatch.setenv("LMLAB_CACHE_DIR", str(tmp_path / "cache"))
    remote = _remote_for(source)
    path = locate(remote)
    assert path == tmp_path / "cache" / "corpus" / "file.txt" and path.read_text() == "some corpus"
    source.unlink()  # the second call must use the cache
    assert locate(remote) == path


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    source = tmp_path / "source.txt"
    source.write_text("tampered")
    monkeypatch.delenv("LMLAB_DATA_DIR")
    remote = RemoteFile(url=source.as_uri(), sha256="0" * 64, relative_path="x/file.txt")
    with pytest.raises(LmlabError, match="SHA-256"):
        locate(remote)
    assert not (download.cache_dir() / "x" / "file.txt").exists()


def test_no_network_and_no_copy_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LMLAB_DATA_DIR")
    remote = RemoteFile(
        url=(tmp_path / "missing.txt").as_uri(), sha256="0" * 64, relative_path="ts/input.txt"
    )
    with pytest.raises(LmlabError) as error:
        locate(remote)
    message = str(error.value)
    assert str(download.cache_dir() / "ts" / "input.txt") in message and "--data-dir" in message
    assert "\n" not in message


def test_local_copy_is_found_in_a_data_dir_and_checked(tmp_path):
    assert locate(shakespeare.TINY_SHAKESPEARE, SHARED_DATA) == SHARED_DATA / "tinyshakespeare" / "input.txt"
    assert locate(shakespeare.TINY_SHAKESPEARE, SHARED_DATA / "tinyshakespeare").name == "input.txt"
    (tmp_path / "input.txt").write_text("not shakespeare")
    with pytest.raises(LmlabError, match="SHA-256"):
        locate(shakespeare.TINY_SHAKESPEARE, tmp_path)
    with pytest.raises(LmlabError, match="not found"):
        locate(shakespeare.TINY_SHAKESPEARE, tmp_path / "empty")
