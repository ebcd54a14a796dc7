"""Bookkeeping for reports: environment.json of a run, differing hyperparameters in compare tables,
and `lmlab data`."""

import json

import pytest

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data.preview import data_preview
from lmlab.experiments.compare import ComparisonRow, differing_keys, flatten_config
from lmlab.presets import load_preset
from lmlab.reports.comparison import comparison_markdown
from lmlab.runs.environment import cpu_model, describe_environment
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, TINY, tiny_config

MACHINE_KEYS = {"cpu", "gpu", "device", "torch_threads", "torch", "python", "platform"}


def test_a_run_records_its_environment_and_each_sessions_peak_memory(tmp_path):
    run_path = tmp_path / "run"
    train(tiny_config("train.max_steps=6"), run_path, stop_after_step=3, progress=False)
    first = json.loads((run_path / "environment.json").read_text())
    assert MACHINE_KEYS <= set(first) and first["device"] == "cpu" and first["gpu"] is None
    assert first["cpu"] and first["torch_threads"] >= 1
    assert len(first["sessions"]) == 1 and first["sessions"][0]["start_step"] == 0
    assert first["sessions"][0]["end_step"] == 3
    peak = first["sessions"][0]["peak_memory_mib"]
    assert peak is None or peak > 0
    train(tiny_config("train.max_steps=6"), run_path, resume=True, progress=False)
    second = json.loads((run_path / "environment.json").read_text())
    assert [(s["start_step"], s["end_step"]) for s in second["sessions"]] == [(0, 3), (3, 6)]
    assert all(MACHINE_KEYS <= set(s) for s in second["sessions"])


def test_environment_names_the_cpu_and_device():
    record = describe_environment(__import__("torch").device("cpu"), threads=2)
    assert record["torch_threads"] == 2 and record["cpu"] == cpu_model() and record["gpu"] is None


def test_only_the_keys_that_differ_become_columns():
    configs = [
        flatten_config(tiny_config()),
        flatten_config(tiny_config("model.n_layer=1", "train.lr=0.01")),
    ]
    assert differing_keys(configs) == ["model.n_layer", "train.lr"]
    assert differing_keys([configs[0], configs[0]]) == []
    row = dict(kind="gpt", parameters=10, non_embedding=5, steps=4, tokens=64, seconds=1.0)
    row.update(val_loss=2.0, val_bits_per_char=2.5)
    rows = [
        ComparisonRow(entry="a", sample="x", **row, hyperparameters={"model.n_layer": 2, "train.lr": 0.001}),
        ComparisonRow(entry="b", sample="y", **row, hyperparameters={"model.n_layer": 1, "train.lr": 0.01}),
    ]
    table = comparison_markdown(rows).splitlines()
    assert table[0].startswith("| run | kind | tokenizer | parameters | model.n_layer | train.lr | steps |")
    assert "| 10 | 2 | 0.001 | 4 |" in table[2] and "| 10 | 1 | 0.01 | 4 |" in table[3]
    assert "model.n_embd" not in table[0]


def test_compare_rows_carry_the_differing_hyperparameters(tmp_path, capsys):
    entries = ["shakespeare-char-cpu", "shakespeare-char-cpu:model.n_layer=1"]
    args = ["compare", *entries, "--out", str(tmp_path / "cmp"), "--quiet"]
    assert main([*args, *[a for o in [*TINY, "train.max_steps=2"] for a in ("--set", o)]]) == 0
    out = capsys.readouterr().out
    assert "| model.n_layer |" in out and "| 2 |" in out and "| 1 |" in out
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert [r["hyperparameters"] for r in results] == [{"model.n_layer": 2}, {"model.n_layer": 1}]


def test_data_preview_of_text_shows_y_one_token_on():
    config = tiny_config()
    lines = data_preview(config, SHARED_DATA)
    assert "train and" in lines[0] and "vocabulary 65" in lines[0]
    x, y = lines[2].split("x: ", 1)[1], lines[3].split("y: ", 1)[1]
    assert eval(x)[1:] == eval(y)[:-1]  # repr of the decoded window
    assert len(lines) == 6


def test_data_preview_of_a_pair_task_marks_what_is_not_predicted():
    config = apply_overrides(load_preset("arith-gpt"), ["data.p=5", "train.batch_size=4"])
    lines = data_preview(config, SHARED_DATA)
    assert "train" in lines[0] and "pairs" in lines[0]
    x, y = lines[2].split("x: ", 1)[1].split(), lines[3].split("y: ", 1)[1].split()
    assert x[0] == "<s>" and y[0] == "_" and y[-1] == "</s>" and len(x) == len(y)


@pytest.mark.parametrize("preset", ["shakespeare-char-cpu", "scan-simple"])
def test_lmlab_data_prints_sizes_and_two_rows(preset, capsys):
    assert main(["data", preset, "--data-dir", str(SHARED_DATA), "--set", "train.batch_size=2"]) == 0
    out = capsys.readouterr().out
    assert "vocabulary" in out and out.count(" x: ") == 2 and out.count(" y: ") == 2


def test_lmlab_data_refuses_an_unknown_preset(capsys):
    assert main(["data", "no-such-preset"]) == 2
    assert capsys.readouterr().err.startswith("lmlab: error:")
