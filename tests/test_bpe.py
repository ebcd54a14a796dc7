"""Byte-level BPE: lmlab's trainer against a recount-every-merge reference and Hugging Face's trainer."""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmlab.errors import LmlabError
from lmlab.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    HFBPETokenizer,
    WordTokenizer,
    fit_bpe,
    load_tokenizer,
    save_tokenizer,
)
from lmlab.tokenizers.bpe import merge_pair, pretokenize

from .conftest import SHARED_DATA

SHAKESPEARE = (SHARED_DATA / "tinyshakespeare" / "input.txt").read_text()
TRAIN, HELD_OUT = SHAKESPEARE[:50_000], SHAKESPEARE[50_000:100_000]
VOCAB_SIZE = 500
LMLAB = BPETokenizer.fit(TRAIN, VOCAB_SIZE)
HF = HFBPETokenizer.fit(TRAIN, VOCAB_SIZE)
BACKENDS = {"lmlab": LMLAB, "hf": HF}

# hypothesis: the autouse offline-data fixture is harmless to share between examples
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TRICKY = [
    "",
    " ",
    "hello",
    " hello",
    "  two  spaces  \n\n\n end \r\n",
    "it's we're I'LL",
    "naïve café, 東京 😀 e\u0301 \u200d",
    "\x00\x01\x7f\uffff",
    "<|endoftext|>",
]


def naive_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """The textbook trainer: count every pair of every word again before each merge."""
    words = [(list(chunk.encode()), count) for chunk, count in Counter(pretokenize(text)).items()]
    merges = []
    for rank in range(n_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for word, count in words:
            for pair in pairwise(word):
                counts[pair] += count
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then the smaller pair
        merges.append(best)
        words = [(merge_pair(word, best, 256 + rank), count) for word, count in words]
    return merges


def naive_encode(tokenizer: BPETokenizer, text: str) -> list[int]:
    """Apply every merge in the order learned to every chunk."""
    ids = []
    for chunk in pretokenize(text):
        chunk_ids = list(chunk.encode())
        for rank, pair in enumerate(tokenizer.merges):
            chunk_ids = merge_pair(chunk_ids, pair, 256 + rank)
        ids += chunk_ids
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky_strings(backend, text):
    assert BACKENDS[backend].decode(BACKENDS[backend].encode(text)) == text


@FAST
@given(text=st.text())
def test_round_trip_arbitrary_unicode(text):
    for tokenizer in BACKENDS.values():
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_hand_checked_merges():
    # chunks "aaab" and " aaab": (a,a) occurs 4 times -> 256 = "aa"; then (a,b) and (aa,a) tie at 2 and
    # the smaller pair (97, 98) wins -> 257 = "ab"; then (aa,ab) -> 258 = "aaab"; then (" ",aaab) -> 259
    tokenizer = BPETokenizer.fit("aaab aaab", 300)
    assert tokenizer.merges == [(97, 97), (97, 98), (256, 257), (32, 258)]
    assert tokenizer.vocab_size == 260  # no pairs left: stops early and reports the real size
    assert tokenizer.encode("aaab aaab") == [258, 259]
    assert [tokenizer.token_text(i) for i in range(256, 260)] == ["aa", "ab", "aaab", " aaab"]


def test_incremental_training_equals_recounting():
    text = SHAKESPEARE[:8000]
    assert BPETokenizer.fit(text, 256 + 150).merges == naive_merges(text, 150)


@FAST
@given(text=st.text(alphabet="aab b\n'", max_size=80))
def test_incremental_training_equals_recounting_with_ties(text):
    assert BPETokenizer.fit(text, 256 + 20).merges == naive_merges(text, 20)


def test_encoding_by_rank_equals_applying_merges_in_order():
    text = HELD_OUT[:3000]
    assert LMLAB.encode(text) == naive_encode(LMLAB, text)


def test_lmlab_and_hugging_face_learn_the_same_vocabulary():
    # same regex, bytes and counts: the same tokens (only tie-breaking orders some merges differently)
    assert {LMLAB.token_text(i) for i in range(256, VOCAB_SIZE)} == {
        HF.token_text(i) for i in range(256, VOCAB_SIZE)
    }
    for text in (TRAIN, HELD_OUT):
        lmlab_tokens = [LMLAB.token_text(i) for i in LMLAB.encode(text)]
        assert lmlab_tokens == [HF.token_text(i) for i in HF.encode(text)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_give_identical_encodings(backend, tmp_path):
    tokenizer = BACKENDS[backend]
    path = tmp_path / "tokenizer.json"
    save_tokenizer(tokenizer, path)
    loaded = load_tokenizer(path)
    assert type(loaded) is type(tokenizer)
    assert json.loads(path.read_text())["type"] == {"lmlab": "bpe", "hf": "hf_bpe"}[backend]
    assert loaded.vocab_size == tokenizer.vocab_size
    assert loaded.encode(HELD_OUT) == tokenizer.encode(HELD_OUT)
    assert loaded.encode_array(HELD_OUT).tolist() == tokenizer.encode(HELD_OUT)
    assert loaded.encode_array(HELD_OUT).dtype.name == "int64"


@pytest.mark.parametrize("backend", ["lmlab", "hf"])
def test_vocab_size_is_exact(backend):
    tokenizer = fit_bpe(TRAIN, 300, backend)
    assert tokenizer.vocab_size == 300
    assert max(tokenizer.encode(TRAIN)) == 299


@pytest.mark.parametrize("kind", [BPETokenizer, HFBPETokenizer])
def test_too_small_vocab_is_refused(kind):
    with pytest.raises(LmlabError, match="at least 256; raise vocab_size"):
        kind.fit(TRAIN, 255)
    with pytest.raises(LmlabError, match="at least 258; raise vocab_size"):
        kind.fit(TRAIN, 257, ("<s>", "</s>"))


@pytest.mark.parametrize("kind", [BPETokenizer, HFBPETokenizer])
def test_special_tokens_get_ids_and_decode_but_are_not_parsed(kind):
    specials = ("<|endoftext|>", "<pad>")
    tokenizer = kind.fit(TRAIN[:5000], 300, specials)
    assert tokenizer.vocab_size == 300
    ids = [tokenizer.special_id(s) for s in specials]
    assert len(set(ids)) == 2 and all(0 <= i < 300 for i in ids)
    assert tokenizer.decode([ids[0], *tokenizer.encode(" hi"), ids[1]]) == "<|endoftext|> hi<pad>"
    assert tokenizer.token_text(ids[1]) == "<pad>"
    assert not set(ids) & set(tokenizer.encode("<|endoftext|><pad>"))  # only code adds specials
    loaded = kind.from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert [loaded.special_id(s) for s in specials] == ids
    assert not set(ids) & set(loaded.encode("<|endoftext|><pad>"))
    with pytest.raises(LmlabError, match="not a special token"):
        tokenizer.special_id("<unk>")


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_text(backend):
    tokenizer = BACKENDS[backend]
    (the,) = tokenizer.encode(" the")
    assert tokenizer.token_text(the) == " the"
    first_byte_of_e_acute = tokenizer.encode("é")[0]  # é is two bytes, learned as one token or two
    assert tokenizer.token_text(first_byte_of_e_acute) in {"é", "\ufffd"}
    assert [tokenizer.token_text(i) for i in tokenizer.encode("😀")] == ["\ufffd"] * 4  # 4 bytes, unseen


def test_token_text_of_char_and_word_tokenizers():
    assert CharTokenizer.fit("ba\n").token_text(0) == "\n"
    words = WordTokenizer.fit(["jump twice"])
    assert [words.token_text(i) for i in words.encode("jump twice")] == ["jump", "twice"]


def test_bpe_compresses_held_out_shakespeare():
    # measured: 1.97 characters per token on the next 50k characters (1.0 for bytes)
    for tokenizer in BACKENDS.values():
        assert len(HELD_OUT) / len(tokenizer.encode(HELD_OUT)) > 1.9
        assert not tokenizer.is_character_level


def test_unknown_backend_is_refused():
    with pytest.raises(LmlabError, match="choose one of"):
        fit_bpe(TRAIN, 300, "sentencepiece")


def test_missing_hugging_face_tokenizers_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers now raises ImportError
    with pytest.raises(LmlabError, match=r"pip install 'lmlab\[hf\]'"):
        HFBPETokenizer.fit(TRAIN, 300)
