"""float16 with loss scaling, tested on the CPU (torch's CPU autocast and GradScaler run the same code
paths as CUDA's); the CUDA checks themselves are in test_cuda.py."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import apply_overrides
from lmlab.data.batches import make_batches
from lmlab.device import needs_loss_scaling, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.runs.run_dir import RunDir, write_atomic
from lmlab.runs.trainer import train
from lmlab.tokenizers import save_tokenizer
from lmlab.training.loop import fit
from lmlab.training.session import build_session

from .conftest import tiny_config, with_vocab


def _weights(path, checkpoint="last"):
    return load_file(path / "checkpoints" / checkpoint / "model.safetensors")


def _state(path):
    return json.loads((path / "checkpoints" / "last" / "state.json").read_text())


def test_float16_trains_with_a_loss_scale_and_keeps_float32_weights(tmp_path):
    result = train(tiny_config("train.dtype=float16"), tmp_path / "run", progress=False)
    assert math.isfinite(result.best_val_loss)
    assert all(t.dtype == torch.float32 for t in _weights(tmp_path / "run").values())
    metrics = RunDir(tmp_path / "run").metrics()
    assert all(r["loss_scale"] > 0 for r in metrics)
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]
    scaler = _state(tmp_path / "run")["grad_scaler"]
    assert scaler["scale"] == metrics[-1]["loss_scale"] and scaler["_growth_tracker"] == 8


def test_float16_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    # the scaler's growth tracker counts clean steps towards the next doubling: it must survive the resume
    config = tiny_config("train.dtype=float16", "model.dropout=0.1", "train.grad_accum_steps=2")
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", stop_after_step=3, progress=False)
    assert _state(tmp_path / "resumed")["grad_scaler"]["_growth_tracker"] == 3
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _state(tmp_path / "straight")["grad_scaler"] == _state(tmp_path / "resumed")["grad_scaler"]


def test_a_step_whose_gradients_overflow_is_skipped_and_halves_the_scale(tmp_path):
    config = with_vocab(tiny_config("train.dtype=float16", "train.max_steps=1", "train.eval_interval=1"))
    data = make_batches(config)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    write_atomic(run.config_file, config.to_json())
    save_tokenizer(data.tokenizer, run.tokenizer_file)
    session = build_session(config, data)
    huge = 2.0**127  # times a loss of about 4: past float32's largest number, so every gradient is inf
    session.scaler.load_state_dict({**session.scaler.state_dict(), "scale": huge})
    before = {k: v.clone() for k, v in session.model.state_dict().items()}
    result = fit(session, run, progress=False)  # no NaN stop
    assert result.step == 1
    after = session.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the step was skipped
    assert session.scaler.get_scale() == huge / 2
    assert all(math.isfinite(r["train_loss"]) for r in run.metrics())


def test_auto_picks_bfloat16_where_the_gpu_has_it_and_float16_where_not(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_dtype("auto", cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_dtype("auto", cuda) == torch.float16  # a T4: bf16 only emulated
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("mps")) == torch.float32
    assert needs_loss_scaling(torch.float16) and not needs_loss_scaling(torch.bfloat16)


@pytest.mark.parametrize(("short", "long"), [("fp16", "float16"), ("bf16", "bfloat16"), ("fp32", "float32")])
def test_short_dtype_names_are_kept_under_their_long_name(short, long):
    assert tiny_config(f"train.dtype={short}").train.dtype == long


def test_an_unknown_dtype_names_the_choices():
    with pytest.raises(LmlabError, match="float16.*fp16"):
        apply_overrides(tiny_config(), ["train.dtype=half"])


def test_a_float32_run_resumed_in_float16_starts_a_fresh_scale(tmp_path):
    train(tiny_config("train.max_steps=4"), tmp_path / "run", progress=False)
    assert _state(tmp_path / "run")["grad_scaler"] == {}
    config = tiny_config("train.dtype=float16")
    train(config, tmp_path / "run", resume=True, progress=False)
    assert _state(tmp_path / "run")["grad_scaler"]["scale"] > 0
