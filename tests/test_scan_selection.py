"""Model selection without peeking (SCAN): the validation set that picks the best checkpoint is held
out of the training pairs (the longest of them with data.val_min_actions), never the test split; and
the add-primitive jump splits with composed examples (Lake & Baroni 2018) as official files."""

from __future__ import annotations

import logging
import re
from collections import Counter

import pytest
import torch

from lmlab.config import DataConfig, apply_overrides
from lmlab.config.data import ADDPRIM_COMPLEX_SPLITS
from lmlab.data import scan
from lmlab.data.batches import PairBatches
from lmlab.data.pairs import load_pair_task
from lmlab.data.scan import _OFFICIAL_FILES, load_split, official_file, read_pairs
from lmlab.errors import LmlabError
from lmlab.evaluation.loss import estimate_loss
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, one_clause_file

SCAN = SHARED_DATA / "scan"


def _actions(pair) -> int:
    return len(pair[1].split())


def _scan(split: str = "length", **options) -> DataConfig:
    return DataConfig(dataset="scan", tokenizer="word", split=split, **options)


@pytest.mark.parametrize("least", [19, 10, 22])
def test_the_longest_training_pairs_are_the_validation_set(least):
    official_train = read_pairs(SCAN / "tasks_train_length.txt")
    official_test = read_pairs(SCAN / "tasks_test_length.txt")
    task = load_pair_task(_scan(val_min_actions=least), SHARED_DATA)
    expected = [pair for pair in official_train if _actions(pair) >= least]
    assert Counter(task.val) == Counter(expected) and len(task.val) == len(expected)
    assert all(_actions(pair) < least for pair in task.train)
    assert Counter(task.train) + Counter(task.val) == Counter(official_train)  # nothing lost, nothing added
    assert Counter(task.test) == Counter(official_test)
    assert set(task.val).isdisjoint(official_test) and set(task.train).isdisjoint(official_test)
    lines = task.describe()
    assert f"{len(task.val):,} val" in lines[0]
    assert f"val: the {len(expected):,} training pairs of {least} or more actions" in lines[1]
    assert f"data.val_min_actions={least}" in lines[1] and f"train: the {len(task.train):,}" in lines[1]


def test_on_the_length_split_19_holds_out_the_pairs_of_19_to_22_actions():
    task = load_pair_task(_scan(val_min_actions=19), SHARED_DATA)
    assert (len(task.train), len(task.val), len(task.test)) == (15_438, 1_552, 3_920)
    assert {_actions(pair) for pair in task.val} == {19, 20, 21, 22}
    assert max(_actions(pair) for pair in task.train) == 18
    assert load_pair_task(_scan(val_min_actions=19, source="official"), SHARED_DATA).val == task.val


def test_the_default_is_still_a_seeded_random_share_and_says_so():
    task = load_pair_task(_scan(), SHARED_DATA)
    assert len(task.val) == round(0.1 * 16_990)
    assert max(_actions(pair) for pair in task.train) == 22  # long pairs train too
    assert "val: a random 1,699 of the 16,990 training pairs (data.train_fraction=0.9" in task.describe()[1]


@pytest.mark.parametrize("split", ["simple", "addprim_jump", "addprim_turn_left"])
def test_it_works_on_every_split_without_touching_the_test_pairs(split):
    task = load_pair_task(_scan(split, val_min_actions=16), SHARED_DATA)
    train, test, _ = load_split(split, data_dir=SHARED_DATA)
    assert Counter(task.val) == Counter(pair for pair in train if _actions(pair) >= 16)
    assert task.val and all(_actions(pair) < 16 for pair in task.train)
    assert Counter(task.test) == Counter(test) and set(task.val).isdisjoint(test)


def test_it_works_on_a_train_file(tmp_path):
    path = one_clause_file(tmp_path)  # 102 one-clause commands, 1 to 24 actions
    task = load_pair_task(
        DataConfig(dataset="scan", tokenizer="word", train_file=str(path), val_min_actions=9)
    )
    assert task.val and all(_actions(pair) >= 9 for pair in task.val)
    assert all(_actions(pair) < 9 for pair in task.train) and len(task.train) + len(task.val) == 102


@pytest.mark.parametrize("preset", ["shakespeare-char", "arith-gpt", "text"])
def test_the_key_is_refused_for_datasets_other_than_scan(preset):
    with pytest.raises(LmlabError) as error:
        apply_overrides(load_preset(preset), ["data.val_min_actions=19"])
    message = str(error.value)
    assert "\n" not in message
    assert "data.val_min_actions applies to data.dataset=scan" in message and "drop it or set" in message


def test_the_key_applies_to_scan():
    config = apply_overrides(load_preset("scan-length"), ["data.val_min_actions=19"])
    assert config.data.val_min_actions == 19


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["data.val_min_actions=-1"], "must be 0 (a random validation share) or a positive number"),
        (["data.val_min_actions=1.5"], "data.val_min_actions"),
        (["data.val_min_actions=abc"], "data.val_min_actions"),
        (["data.val_min_actions=19", "data.train_fraction=0.8"], "data.train_fraction=0.8 does not apply"),
        (["data.train_fraction=0.5", "data.val_min_actions=19"], "drop one of the two"),
    ],
)
def test_bad_values_are_refused_in_one_line(overrides, words):
    with pytest.raises(LmlabError) as error:
        apply_overrides(load_preset("scan-length"), overrides)
    assert "\n" not in str(error.value) and words in str(error.value)


@pytest.mark.parametrize(
    "least, words",
    [
        (23, "holds out none of the 16,990 training pairs (1 to 22 actions); set it from 2 to 22"),
        (10**9, "holds out none"),
        (1, "holds out all of the 16,990 training pairs"),
    ],
)
def test_a_threshold_that_leaves_no_val_or_no_train_is_refused(least, words):
    with pytest.raises(LmlabError) as error:
        load_pair_task(_scan(val_min_actions=least), SHARED_DATA)
    assert "\n" not in str(error.value) and words in str(error.value)


def test_a_tiny_run_picks_its_best_checkpoint_on_the_longest_pairs(tmp_path, caplog):
    overrides = [
        *["model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.block_size=64"],
        *["train.batch_size=32", "train.max_steps=12", "train.lr=0.004", "train.warmup_steps=2"],
        *["train.eval_interval=3", "train.eval_steps=1", "train.log_interval=3", "train.device=cpu"],
        "data.val_min_actions=19",
    ]
    config = apply_overrides(load_preset("scan-length"), overrides)
    with caplog.at_level(logging.INFO, logger="lmlab"):
        result = train(config, tmp_path / "run", data_dir=SHARED_DATA, progress=False)
    assert "val: the 1,552 training pairs of 19 or more actions" in caplog.text
    run = RunDir(tmp_path / "run")
    assert run.config().data.val_min_actions == 19
    val_losses = [record["val_loss"] for record in run.metrics() if "val_loss" in record]
    assert len(val_losses) >= 4 and result.best_val_loss == min(val_losses)

    saved, tokenizer, model = load_model(run, "best", "cpu")
    longest = load_pair_task(saved.data, SHARED_DATA, tokenizer)
    assert {_actions(pair) for pair in longest.val} == {19, 20, 21, 22}
    assert set(longest.val).isdisjoint(longest.test)

    def val_loss(task) -> float:
        batches = PairBatches(task, 64, saved.model.block_size, 0)
        return estimate_loss(model, batches.loss_batches("val", 1, 0), torch.device("cpu"))

    assert val_loss(longest) == pytest.approx(result.best_val_loss, abs=1e-4)
    random_share = load_pair_task(_scan(), SHARED_DATA, tokenizer)  # the val set it would have had
    assert abs(val_loss(random_share) - result.best_val_loss) > 1e-2


def test_the_composed_example_split_names_resolve():
    assert len(ADDPRIM_COMPLEX_SPLITS) == 30
    for split in ADDPRIM_COMPLEX_SPLITS:
        assert _scan(split).split == split
        for part in ("train", "test"):
            remote = official_file(f"tasks_{part}_{split}.txt")
            assert remote.url == (
                "https://raw.githubusercontent.com/brendenlake/SCAN/master/add_prim_split/"
                f"with_additional_examples/tasks_{part}_{split}.txt"
            )
            assert re.fullmatch("[0-9a-f]{64}", remote.sha256)
            assert remote.relative_path == f"scan/tasks_{part}_{split}.txt"
    composed = [name for name in _OFFICIAL_FILES if "_complex_" in name]
    assert len(composed) == 60 and len({_OFFICIAL_FILES[name][1] for name in composed}) == 60
    config = apply_overrides(load_preset("scan-addprim-jump"), ["data.split=addprim_complex_jump_num8_rep1"])
    assert config.data.split == "addprim_complex_jump_num8_rep1"
    with pytest.raises(LmlabError, match="no generator"):
        load_split("addprim_complex_jump_num8_rep1", source="generated")


@pytest.mark.parametrize(
    "split", ["addprim_complex_jump_num3_rep1", "addprim_complex_jump_num8_rep6", "addprim_complex_jump"]
)
def test_a_mistyped_composed_split_is_refused_with_the_pattern(split):
    with pytest.raises(LmlabError) as error:
        apply_overrides(load_preset("scan-addprim-jump"), [f"data.split={split}"])
    message = str(error.value)
    assert "\n" not in message and f"data.split={split!r} is unknown" in message
    assert "addprim_complex_jump_num{1,2,4,8,16,32}_rep{1..5}" in message and "addprim_jump" in message


def test_a_local_copy_with_the_wrong_content_is_refused(tmp_path):
    (tmp_path / "scan").mkdir()
    for part in ("train", "test"):  # the plain add-jump files: real SCAN lines, not the composed files
        plain = (SCAN / f"tasks_{part}_addprim_jump.txt").read_bytes()
        (tmp_path / "scan" / f"tasks_{part}_addprim_complex_jump_num2_rep3.txt").write_bytes(plain)
    for source in ("auto", "official"):
        with pytest.raises(LmlabError) as error:
            load_split("addprim_complex_jump_num2_rep3", source=source, data_dir=tmp_path)
        message = str(error.value)
        assert "\n" not in message and "has SHA-256" in message
        assert "with_additional_examples/tasks_train_addprim_complex_jump_num2_rep3.txt" in message


def test_a_download_with_the_wrong_content_is_refused(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "add_prim_split" / "with_additional_examples"
    mirror.mkdir(parents=True)
    (mirror / "tasks_train_addprim_complex_jump_num1_rep1.txt").write_text("IN: jump OUT: I_JUMP\n")
    monkeypatch.setattr(scan, "_OFFICIAL_BASE", (tmp_path / "mirror").as_uri() + "/")
    (tmp_path / "data").mkdir()  # a data directory without the files: fetched into the (empty) cache
    with pytest.raises(LmlabError) as error:
        load_split("addprim_complex_jump_num1_rep1", source="official", data_dir=tmp_path / "data")
    assert "\n" not in str(error.value) and "tasks_train_addprim_complex_jump_num1_rep1.txt has SHA-256" in (
        str(error.value)
    )


def test_composed_examples_pick_the_file_by_number_and_seed(tmp_path):
    config = apply_overrides(
        load_preset("scan-addprim-jump"), ["data.composed_examples=8", "data.split_seed=3"]
    ).data
    assert config.scan_split == "addprim_complex_jump_num8_rep3" and config.split == "addprim_jump"
    assert apply_overrides(load_preset("scan-addprim-jump"), []).data.scan_split == "addprim_jump"
    # the data folder must hold the official file: the error names it (no network in tests)
    (tmp_path / "scan").mkdir()
    with pytest.raises(LmlabError, match="tasks_train_addprim_complex_jump_num8_rep3.txt"):
        load_pair_task(config, tmp_path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["data.composed_examples=3"], "choose one of"),
        (["data.composed_examples=8", "data.split_seed=0"], "must be 1 to 5"),
        (
            ["data.composed_examples=8", "data.split_seed=1", "data.split=length"],
            "set data.split=addprim_jump",
        ),
    ],
)
def test_composed_examples_refuse_what_lake_and_baroni_did_not_publish(settings, message):
    with pytest.raises(LmlabError, match=message):
        apply_overrides(load_preset("scan-addprim-jump"), settings)
    with pytest.raises(LmlabError, match="applies to data.dataset=scan"):
        apply_overrides(load_preset("arith-gpt"), ["data.composed_examples=8"])
