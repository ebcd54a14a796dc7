from collections import Counter

import pytest

from lmlab.config import DataConfig
from lmlab.data.download import locate
from lmlab.data.pairs import load_pair_task
from lmlab.data.scan import (
    _OFFICIAL_FILES,
    add_primitive_split,
    generate_commands,
    length_split,
    load_official,
    load_split,
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


def test_generated_simple_split_is_a_seeded_80_20_partition():
    train, test, origin = load_split("simple", source="generated", seed=3)
    assert (len(train), len(test)) == (16_728, 4_182)  # the official split's sizes
    assert set(train).isdisjoint(test) and len(set(train) | set(test)) == 20_910
    assert load_split("simple", source="generated", seed=3)[1] == test
    assert load_split("simple", source="generated", seed=4)[1] != test
    assert "80/20" in origin


def test_auto_source_uses_the_official_simple_files_when_they_are_local():
    train, test, origin = load_split("simple", source="auto", data_dir=SHARED_DATA)
    assert Counter(train) == Counter(read_pairs(SCAN / "tasks_train_simple.txt"))
    assert Counter(test) == Counter(read_pairs(SCAN / "tasks_test_simple.txt"))
    assert "official" in origin


@pytest.mark.parametrize("split", ["length", "addprim_jump", "addprim_turn_left"])
def test_named_rule_based_splits_match_the_official_files(split):
    train, test, _ = load_split(split, source="auto", data_dir=SHARED_DATA)
    assert Counter(train) == Counter(read_pairs(SCAN / f"tasks_train_{split}.txt"))
    assert Counter(test) == Counter(read_pairs(SCAN / f"tasks_test_{split}.txt"))


def test_template_splits_are_fetched_not_generated(tmp_path):
    with pytest.raises(LmlabError, match="no generator"):
        load_split("template_right", source="generated")
    with pytest.raises(LmlabError, match="tasks_train_template_right.txt not found"):
        load_split("template_right", source="auto", data_dir=tmp_path)


def test_a_damaged_local_copy_is_reported_not_replaced(tmp_path):
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "tasks_train_simple.txt").write_text("IN: walk OUT: I_WALK\n")
    (tmp_path / "scan" / "tasks_test_simple.txt").write_text("IN: walk OUT: I_WALK\n")
    with pytest.raises(LmlabError, match="SHA-256"):
        load_split("simple", source="auto", data_dir=tmp_path)


def test_pair_task_holds_out_a_seeded_validation_share():
    config = DataConfig(dataset="scan", tokenizer="word", split="length")
    task = load_pair_task(config, SHARED_DATA)
    assert len(task.val) == round(0.1 * 16_990) and len(task.train) + len(task.val) == 16_990
    assert len(task.test) == 3_920
    assert task.tokenizer.vocab_size == 23
    assert task.longest() == (9, 48)
    assert load_pair_task(config, SHARED_DATA).val == task.val


def test_any_file_in_the_scan_format_loads(tmp_path):
    train_file, test_file = tmp_path / "mine.txt", tmp_path / "held_out.txt"
    train_file.write_text("".join(f"IN: walk {w} OUT: I_WALK I_{w.upper()}\n" for w in "abcdefghij"))
    test_file.write_text("IN: walk k OUT: I_WALK I_K\n")
    config = DataConfig(
        dataset="scan", tokenizer="word", train_file=str(train_file), test_file=str(test_file)
    )
    task = load_pair_task(config)
    assert (len(task.train), len(task.val), task.test) == (9, 1, [("walk k", "I_WALK I_K")])
    assert task.name == "mine.txt"
    with pytest.raises(LmlabError, match="no 'IN: ... OUT: ...' lines"):
        empty = tmp_path / "empty.txt"
        empty.write_text("\n")
        load_pair_task(DataConfig(dataset="scan", tokenizer="word", train_file=str(empty)))


def test_scan_needs_the_word_tokenizer():
    with pytest.raises(LmlabError, match="data.tokenizer=word"):
        DataConfig(dataset="scan", tokenizer="char")
