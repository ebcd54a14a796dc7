from collections import Counter

import pytest

from lmlab.data.download import locate
from lmlab.data.scan import (
    _OFFICIAL_FILES,
    add_primitive_split,
    generate_commands,
    length_split,
    load_official,
    official_file,
    parse_line,
    read_pairs,
)
from lmlab.errors import LmlabError
from lmlab.tokenizers import WordTokenizer, load_tokenizer, save_tokenizer

from .conftest import SHARED_DATA

SCAN = SHARED_DATA / "scan"


@pytest.fixture(scope="module")
def pairs():
    return generate_commands()


def test_the_grammar_generates_exactly_the_official_commands(pairs):
    assert set(pairs) == set(read_pairs(SCAN / "tasks.txt"))
    assert len(pairs) == len(set(pairs)) == 20_910


def test_interpretation_examples(pairs):
    meaning = dict(pairs)
    assert (
        meaning["jump opposite left twice"] == "I_TURN_LEFT I_TURN_LEFT I_JUMP I_TURN_LEFT I_TURN_LEFT I_JUMP"
    )
    assert meaning["turn around right"] == "I_TURN_RIGHT " * 3 + "I_TURN_RIGHT"
    assert meaning["walk after run left"] == "I_TURN_LEFT I_RUN I_WALK"
    assert meaning["look and turn opposite left thrice"] == "I_LOOK" + " I_TURN_LEFT" * 6


def _multiset(path):
    return Counter(read_pairs(path))


def test_length_split_equals_the_official_files(pairs):
    train, test = length_split(pairs)
    assert Counter(train) == _multiset(SCAN / "tasks_train_length.txt")
    assert Counter(test) == _multiset(SCAN / "tasks_test_length.txt")
    assert max(len(a.split()) for _, a in test) == 48


@pytest.mark.parametrize("primitive, name", [("jump", "jump"), ("turn left", "turn_left")])
def test_add_primitive_splits_equal_the_official_files(pairs, primitive, name):
    train, test = add_primitive_split(pairs, primitive)
    assert Counter(train) == _multiset(SCAN / f"tasks_train_addprim_{name}.txt")
    assert Counter(test) == _multiset(SCAN / f"tasks_test_addprim_{name}.txt")


def test_bad_lines_and_files_get_one_line_errors(tmp_path):
    assert parse_line("IN: walk twice OUT: I_WALK I_WALK") == ("walk twice", "I_WALK I_WALK")
    with pytest.raises(LmlabError, match="expected 'IN: <command> OUT: <actions>'"):
        parse_line("walk twice => I_WALK I_WALK", "x.txt", 3)
    with pytest.raises(LmlabError, match="not found"):
        read_pairs(tmp_path / "missing.txt")
    with pytest.raises(LmlabError, match="unknown"):
        add_primitive_split([], "look")


def test_scan_word_tokenizer_has_23_tokens_and_round_trips(pairs, tmp_path):
    tokenizer = WordTokenizer.fit([f"{command} {actions}" for command, actions in pairs])
    assert tokenizer.vocab_size == 23
    assert tokenizer.tokens[:4] == ["<pad>", "<s>", "</s>", "<unk>"]
    command, actions = pairs[-1]
    assert tokenizer.decode(tokenizer.encode(f"{command} {actions}")) == f"{command} {actions}"
    assert tokenizer.encode("walk fly") == [tokenizer.encode("walk")[0], tokenizer.unk_id]
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path / "tokenizer.json").tokens == tokenizer.tokens


def test_official_files_are_found_locally_and_verified(pairs):
    assert Counter(load_official("tasks_train_simple.txt")) == _multiset(SCAN / "tasks_train_simple.txt")
    assert len(load_official("tasks_test_simple.txt")) == 4_182
    assert official_file("tasks_test_length.txt").url.endswith(
        "brendenlake/SCAN/master/length_split/tasks_test_length.txt"
    )
    with pytest.raises(LmlabError, match="no official SCAN file"):
        official_file("tasks_train_mcd1.txt")


def test_every_official_checksum_matches_the_shared_copies():
    shared = [name for name in _OFFICIAL_FILES if (SCAN / name).exists()]
    assert len(shared) == 9  # tasks.txt and the simple, length and add-primitive splits
    for name in shared:
        assert locate(official_file(name)) == SCAN / name  # raises on a checksum mismatch
