"""Temperatures: several in one `lmlab sample`, tempered `lmlab next`, sampled decoding for pair tasks."""

from __future__ import annotations

import json

import pytest
import torch

from lmlab.cli.main import main
from lmlab.data.pairs import load_pair_task
from lmlab.evaluation.translation import evaluate_translation
from lmlab.generation.translate import translate
from lmlab.inspect.next_token import next_tokens
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, tiny_config, train_on_clauses

UNTRAINED_SCAN = [
    "model.n_layer=1",
    "model.n_head=2",
    "model.n_embd=32",
    "model.segment_embeddings=true",
    "train.batch_size=8",
    "train.max_steps=1",
    "train.eval_interval=1",
    "train.eval_steps=1",
    "train.device=cpu",
]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "tiny"
    with pytest.MonkeyPatch.context() as patch:  # conftest's offline_data is per test; this is per module
        patch.setenv("LMLAB_DATA_DIR", str(SHARED_DATA))
        patch.setenv("LMLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        train(tiny_config(), path, progress=False)
    return path


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory):
    """A SCAN model after one step: its predictions are close to uniform noise."""
    folder = tmp_path_factory.mktemp("scan")
    return train_on_clauses(folder, UNTRAINED_SCAN, limit=40)


@pytest.fixture(scope="module")
def loaded(scan_run):
    config, tokenizer, model = load_model(RunDir(scan_run), "best", "cpu")
    task = load_pair_task(config.data, SHARED_DATA, tokenizer)
    return tokenizer, model, [s for s, _ in task.split("train")]


def test_several_temperatures_print_one_block_each_from_the_same_seed(text_run, capsys):
    base = ["sample", str(text_run), "--prompt", "A", "--max-new-tokens", "30", "--seed", "7"]
    assert main([*base, "--temperature", "1.5,1.0,0.0001"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("---")] == [
        "--- temperature 1.5 ---",
        "--- temperature 1.0 ---",
        "--- temperature 0.0001 ---",
    ]
    blocks = out.split("--- temperature ")[1:]
    for block, single in zip(blocks, ("1.5", "1.0", "0.0001"), strict=True):
        assert main([*base, "--temperature", single]) == 0
        alone = capsys.readouterr().out
        assert "---" not in alone  # one value: today's output, no label
        assert block.split(" ---\n", 1)[1].rstrip("\n") == alone.rstrip("\n")


@pytest.mark.parametrize("value", ["1.0,nan", "0.5,-1", "1.0,,0.5", "hot"])
def test_a_bad_temperature_in_the_list_is_refused_in_one_line(text_run, value, capsys):
    assert main(["sample", str(text_run), "--temperature", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--temperature" in err


def test_next_shows_the_tempered_distribution(text_run, capsys):
    config, tokenizer, model = load_model(RunDir(text_run), "best", "cpu")
    plain = next_tokens(model, tokenizer, "The", False, 5)
    assert next_tokens(model, tokenizer, "The", False, 5, temperature=1.0) == plain
    cold = next_tokens(model, tokenizer, "The", False, 5, temperature=0.0001)
    assert cold[0].token_id == plain[0].token_id and cold[0].probability > 0.99
    hot = next_tokens(model, tokenizer, "The", False, 5, temperature=5.0)
    assert hot[0].probability < plain[0].probability
    assert main(["next", str(text_run), "--prompt", "The", "--temperature", "0.5"]) == 0
    assert "at temperature 0.5" in capsys.readouterr().out
    assert main(["next", str(text_run), "--prompt", "The", "--temperature", "-1"]) == 2


def test_sampled_decoding_tiny_temperature_is_greedy_and_a_seed_repeats(loaded):
    tokenizer, model, sources = loaded
    greedy = translate(model, tokenizer, sources, max_new_tokens=12)
    assert translate(model, tokenizer, sources, max_new_tokens=12, temperature=0.0001, seed=3) == greedy
    hot = translate(model, tokenizer, sources, max_new_tokens=12, temperature=1.0, seed=3)
    assert hot == translate(model, tokenizer, sources, max_new_tokens=12, temperature=1.0, seed=3)
    assert hot != greedy  # an untrained model is unsure of almost every token
    assert hot != translate(model, tokenizer, sources, max_new_tokens=12, temperature=1.0, seed=4)


def test_evaluate_translation_names_the_sampled_decoding(loaded):
    tokenizer, model, sources = loaded
    pairs = [(s, "I_JUMP") for s in sources[:5]]
    report = evaluate_translation(model, tokenizer, pairs, "train", temperature=0.5, seed=2)
    assert report.decoding == "sampled (temperature 0.5, seed 2)"


def test_cli_eval_and_sample_with_a_temperature_on_a_pair_task(scan_run, capsys):
    args = ["eval", str(scan_run), "--splits", "train", "--temperature", "1", "--seed", "5"]
    assert main(args) == 0
    assert "sampled (temperature 1, seed 5)" in capsys.readouterr().out
    out_dir = scan_run / "eval" / "train-t1-seed5"
    first = json.loads((out_dir / "results.json").read_text())
    wrong = (out_dir / "wrong_predictions.tsv").read_text()
    assert main(args) == 0
    capsys.readouterr()
    again = json.loads((out_dir / "results.json").read_text())
    assert {**again, "seconds": 0} == {**first, "seconds": 0}
    assert (out_dir / "wrong_predictions.tsv").read_text() == wrong  # the same seed, the same samples

    base = ["sample", str(scan_run), "--prompt", "jump twice"]
    assert main(base) == 0
    greedy = capsys.readouterr().out
    assert main([*base, "--temperature", "0.0001", "--num-samples", "3", "--seed", "1"]) == 0
    assert capsys.readouterr().out == greedy * 3
    assert main([*base, "--temperature", "1", "--num-samples", "4", "--seed", "1"]) == 0
    hot = capsys.readouterr().out
    assert len(hot.splitlines()) == 4 and hot != greedy * 4
    assert main([*base, "--temperature", "1", "--num-samples", "4", "--seed", "1"]) == 0
    assert capsys.readouterr().out == hot


@pytest.mark.parametrize("command", ["eval", "sample"])
def test_beam_with_a_temperature_is_refused_in_one_line(scan_run, command, capsys):
    assert main([command, str(scan_run), "--beam", "2", "--temperature", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--beam" in err and "--temperature" in err


def test_eval_of_a_text_run_refuses_a_temperature(text_run, capsys):
    assert main(["eval", str(text_run), "--temperature", "0.5"]) == 2
    assert "pair tasks" in capsys.readouterr().err


def test_translate_refuses_beam_with_temperature(loaded):
    tokenizer, model, sources = loaded
    with pytest.raises(Exception, match="beam"):
        translate(model, tokenizer, sources[:1], beam_width=2, temperature=0.5)
    assert torch.get_default_dtype() == torch.float32
