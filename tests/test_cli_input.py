"""No traceback, ever: every bad flag value is one line naming the flag, a bug is one line and status 1,
and messages say what to do (a missing tokenizer.json, a sweep reported from its own record)."""

from __future__ import annotations

import shutil

import pytest
import torch

from lmlab.cli import info as info_command
from lmlab.cli.main import main
from lmlab.experiments.sweep import SweepSpec, check_same_sweep, expand
from lmlab.models import build_model, size
from lmlab.models.params import count_parameters
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "tiny"
    train(tiny_config(), path, data_dir=SHARED_DATA, progress=False)  # module scope: before offline_data
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lmlab: error:") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "command, flags, named",
    [
        ("sample", ["--temperature", "nan"], "--temperature"),
        ("sample", ["--temperature", "inf"], "--temperature"),
        ("sample", ["--temperature", "-1"], "--temperature"),
        ("sample", ["--top-k", "0"], "--top-k"),
        ("sample", ["--top-k", "-1"], "--top-k"),
        ("sample", ["--top-p", "0"], "--top-p"),
        ("sample", ["--top-p", "1.5"], "--top-p"),
        ("sample", ["--top-p", "nan"], "--top-p"),
        ("sample", ["--max-new-tokens", "-5"], "--max-new-tokens"),
        ("sample", ["--max-new-tokens", "0"], "--max-new-tokens"),
        ("sample", ["--num-samples", "0"], "--num-samples"),
        ("sample", ["--num-samples", "-2"], "--num-samples"),
        ("sample", ["--beam", "0"], "--beam"),
        ("sample", ["--device", "tpu"], "--device tpu"),
        ("eval", ["--batch-size", "-1"], "--batch-size"),
        ("eval", ["--batch-size", "0"], "--batch-size"),
        ("eval", ["--beam", "0"], "--beam"),
        ("attention", ["--prompt", "ab", "--frames", "0"], "--frames"),
        ("next", ["--prompt", "a", "--top", "0"], "--top"),
    ],
)
def test_a_bad_flag_value_is_one_line_that_names_the_flag(run, command, flags, named, capsys):
    assert main([command, str(run), *flags]) == 2
    assert named in _one_line_error(capsys)
    assert not (run / "attention.png").exists()  # refused before any work


def test_temperature_zero_is_still_greedy(run, capsys):
    assert main(["sample", str(run), "--prompt", "A", "--temperature", "0", "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith("A")


def test_a_missing_gpu_names_the_flag_that_asked_for_it(run, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["next", str(run), "--prompt", "a", "--device", "cuda"]) == 2
    err = _one_line_error(capsys)
    assert "--device cuda" in err and "--device cpu" in err and "train.device" not in err


@pytest.mark.parametrize(
    "flags, named",
    [(["--vocab", "65", "--n", "100000"], "--n"), (["--vocab", str(10**13), "--n", "1"], "--vocab")],
)
def test_ngram_tables_too_large_to_print_are_refused(flags, named, capsys):
    assert main(["info", "ngram", *flags]) == 2
    assert named in _one_line_error(capsys)


def test_ngram_tables_of_a_huge_vocabulary_build_no_model(capsys):
    assert main(["info", "ngram", "--vocab", str(10**8), "--n", "2"]) == 0  # a 38e9-parameter GPT, counted
    assert "38,410,720,128 parameters" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setting, words",
    [
        ("model.n_layer=1e9", ["about 1.97e+14 parameters", "GiB", "model.n_layer"]),
        ("model.n_embd=1e9", ["parameters", "GiB", "model.n_embd"]),
        ("model.n_embd=1e15", ["model.n_embd=1000000000000000", "2**40"]),
    ],
)
def test_a_model_larger_than_memory_is_refused_before_it_is_built(setting, words, capsys):
    assert main(["info", "nanogpt-cpu", "--set", setting]) == 2
    err = _one_line_error(capsys)
    assert all(word in err for word in words), err


def test_training_counts_gradients_and_adamw_state(tmp_path, monkeypatch, capsys):
    config = tiny_config().model
    weights = size.BYTES_PER_WEIGHT * size.estimate_parameters(config)
    monkeypatch.setattr(size, "total_memory_bytes", lambda device: 2 * weights)  # weights fit, training not
    out = tmp_path / "run"
    sizes = ["model.n_layer=2", "model.n_embd=32", "model.block_size=16", "train.device=cpu"]
    settings = [a for o in sizes for a in ("--set", o)]
    assert main(["train", "shakespeare-char-cpu", *settings, "--out", str(out)]) == 2
    assert "AdamW" in _one_line_error(capsys) and not out.exists()


FAMILY_VARIANTS = [
    ["model.kind=bigram"],
    ["model.kind=bigram_embed"],
    ["model.kind=attention"],
    ["model.kind=attention", "model.bias=true", "model.n_head=4"],
    ["model.kind=lstm"],
    ["model.kind=lstm", "model.n_layer=3", "model.hidden_size=24", "model.bias=true"],
    [],
    ["model.tie_weights=false", "model.bias=true", "model.mlp_ratio=2.5"],
    ["model.norm=rmsnorm", "model.position=rotary"],
    ["model.norm=none", "model.position=sinusoidal", "model.segment_embeddings=true"],
]


@pytest.mark.parametrize("settings", FAMILY_VARIANTS, ids=lambda s: ",".join(s) or "gpt")
def test_the_estimate_from_the_config_equals_the_count_of_the_built_model(settings):
    config = tiny_config(*settings, "model.vocab_size=65").model
    model = build_model(config)
    assert size.estimate_parameters(config) == count_parameters(model).total
    assert size.buffer_elements(config) == sum(b.numel() for b in model.buffers())


def test_a_bug_is_one_line_and_status_1_and_its_traceback_is_one_variable_away(monkeypatch, capsys):
    def broken() -> list[str]:
        raise ValueError("boom\nsecond line")

    monkeypatch.setattr(info_command, "preset_names", broken)
    assert main(["info", "--presets"]) == 1
    err = _one_line_error(capsys)
    assert "unexpected ValueError: boom second line" in err and "LMLAB_DEBUG=1" in err
    monkeypatch.setenv("LMLAB_DEBUG", "1")
    with pytest.raises(ValueError, match="boom"):
        main(["info", "--presets"])


def test_a_missing_tokenizer_says_how_to_get_it_back(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "tokenizer.json").unlink()
    assert main(["sample", str(copy)]) == 2
    err = _one_line_error(capsys)
    assert "tokenizer.json is missing" in err and "copy" in err and "train again" not in err


def test_report_only_reads_the_recorded_sweep(tmp_path, capsys):
    out = tmp_path / "sweep"
    tiny = ("model.n_layer=1", "model.n_head=2", "data.p=5", "train.max_steps=4", "train.eval_interval=2")
    spec = SweepSpec(preset="arith-gpt", grid={"model.n_embd": ["8"]}, overrides=(*tiny, "train.device=cpu"))
    out.mkdir()
    check_same_sweep(spec, out)  # records OUT/sweep.json, as `lmlab sweep` does
    for sweep_run in expand(spec):
        train(sweep_run.config, out / "runs" / sweep_run.name, progress=False)
    assert main(["sweep", "arith-gpt", "--report-only", "--out", str(out)]) == 0  # no --set repeated
    assert "n_embd" in capsys.readouterr().out and (out / "summary.csv").exists()
    assert main(["sweep", "arith-lstm", "--report-only", "--out", str(out)]) == 2  # another preset's folder
    assert "arith-gpt" in _one_line_error(capsys)
