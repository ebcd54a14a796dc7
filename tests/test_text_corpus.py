"""Training on your own text: files, folders and globs; the memory-mapped token cache; bad input."""

import os
from pathlib import Path

import pytest
import torch

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data import corpus as corpus_module
from lmlab.data.corpus import load_corpus
from lmlab.data.text_files import corpus_files, read_corpus, safe_split_points
from lmlab.errors import LmlabError
from lmlab.presets import load_preset
from lmlab.tokenizers.bpe import BPETokenizer

from .conftest import SHARED_DATA, TINY

SHAKESPEARE = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text()


@pytest.fixture
def folder(tmp_path):
    books = tmp_path / "books"
    (books / "more").mkdir(parents=True)
    (books / "b.txt").write_text(SHAKESPEARE[20_000:40_000])
    (books / "a.txt").write_text(SHAKESPEARE[:20_000])
    (books / "more" / "c.txt").write_text(SHAKESPEARE[40_000:50_000])
    (books / "notes.md").write_text("not part of the corpus")
    return books


def tmp_path_cache():
    return Path(os.environ["LMLAB_CACHE_DIR"])  # the tests' own cache folder (conftest)


def text_config(data_file, *extra):
    return apply_overrides(load_preset("text"), [*TINY, f"data.data_file={data_file}", *extra]).data


def test_a_file_a_folder_and_a_glob_name_the_same_kind_of_corpus(folder):
    assert [p.name for p in corpus_files(str(folder))] == ["a.txt", "b.txt", "c.txt"]
    assert [p.name for p in corpus_files(str(folder / "*.txt"))] == ["a.txt", "b.txt"]
    assert corpus_files(str(folder / "a.txt")) == [folder / "a.txt"]
    text = read_corpus(corpus_files(str(folder)), "utf-8").text
    assert text == "\n".join([SHAKESPEARE[:20_000], SHAKESPEARE[20_000:40_000], SHAKESPEARE[40_000:50_000]])


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: str(d / "missing.txt"), "does not exist"),
        (lambda d: str(d), "holds no .txt files"),
        (lambda d: str(d / "*.rst"), "matches no files"),
        (lambda d: (d / "empty.txt").write_text("  \n") and str(d / "empty.txt"), "is empty"),
    ],
)
def test_bad_paths_and_empty_corpora_are_one_line_errors(tmp_path, make, words):
    with pytest.raises(LmlabError, match=words):
        load_corpus(text_config(make(tmp_path)))


def test_bytes_that_are_not_utf8_name_the_file_and_the_offset(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("naïve café ".encode("latin-1") * 20)
    with pytest.raises(LmlabError, match=r"latin.txt is not valid utf-8 at byte 2 .*data.encoding"):
        load_corpus(text_config(path))
    corpus = load_corpus(text_config(path, "data.encoding=latin-1"))
    assert corpus.tokenizer.decode(corpus.train[:6].tolist()) == "naïve "


def test_a_corpus_shorter_than_the_context_is_refused(tmp_path, capsys):
    (tmp_path / "short.txt").write_text("To be, or not to be")
    args = ["train", "text", "--data-file", str(tmp_path / "short.txt"), "--out", str(tmp_path / "run")]
    assert main([*args, *[a for o in TINY for a in ("--set", o)], "--quiet"]) == 2
    assert "fewer than model.block_size+1=17" in capsys.readouterr().err


def test_the_encoded_corpus_is_cached_memory_mapped_and_not_encoded_twice(folder, monkeypatch):
    config = text_config(folder, "data.tokenizer=bpe", "data.bpe_vocab_size=300")
    first = load_corpus(config)
    assert first.train.dtype == torch.uint16  # 2 bytes per token on disk and in the mapping
    text = read_corpus(corpus_files(str(folder)), "utf-8").text
    n_train = int(0.9 * len(text))
    assert first.train.tolist() == first.tokenizer.encode(text[:n_train])
    assert first.val.tolist() == first.tokenizer.encode(text[n_train:])

    def no_encoding(self, text):
        raise AssertionError("a cached corpus was encoded again")

    monkeypatch.setattr(BPETokenizer, "encode_array", no_encoding)
    monkeypatch.setattr(BPETokenizer, "fit", no_encoding)  # nor is its BPE learned again
    second = load_corpus(config)
    assert second.tokenizer.to_dict() == first.tokenizer.to_dict()
    assert torch.equal(second.train, first.train) and torch.equal(second.val, first.val)
    cached = sorted((tmp_path_cache() / "corpora").glob("*.bin"), key=lambda p: p.stat().st_size)
    assert len(list((tmp_path_cache() / "corpora").glob("*.tokenizer.json"))) == 1
    assert [p.stat().st_size for p in cached] == [2 * len(first.val), 2 * len(first.train)]


def test_encoding_in_pieces_equals_encoding_at_once(monkeypatch, tmp_path):
    (tmp_path / "play.txt").write_text(SHAKESPEARE[:30_000])
    monkeypatch.setattr(corpus_module, "ENCODE_PIECE_CHARACTERS", 997)
    corpus = load_corpus(text_config(tmp_path / "play.txt", "data.tokenizer=bpe", "data.bpe_vocab_size=320"))
    assert corpus.train.tolist() == corpus.tokenizer.encode(SHAKESPEARE[:27_000])
    points = safe_split_points(SHAKESPEARE[:30_000], 997)
    assert len(points) > 20 and all(SHAKESPEARE[p - 1] == "\n" for p in points[1:-1])


def test_train_sample_eval_and_attention_on_your_own_text(folder, tmp_path, capsys):
    run = tmp_path / "run"
    overrides = [a for o in [*TINY, "data.tokenizer=bpe", "data.bpe_vocab_size=300"] for a in ("--set", o)]
    assert (
        main(
            ["train", "text", "--data-file", str(folder / "*.txt"), *overrides, "--out", str(run), "--quiet"]
        )
        == 0
    )
    assert (run / "tokenizer.json").exists() and '"type": "bpe"' in (run / "tokenizer.json").read_text()
    assert main(["sample", str(run), "--prompt", "ROMEO:", "--max-new-tokens", "10", "--seed", "0"]) == 0
    assert main(["eval", str(run), "--splits", "val"]) == 0
    assert main(["attention", str(run), "--prompt", "ROMEO: the", "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert "\nROMEO:" in out and "bits/char" in out and (run / "attention.png").exists()
