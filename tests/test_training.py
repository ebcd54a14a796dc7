import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from lmlab.data.batches import make_batches
from lmlab.device import resolve_device, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.models import build_model
from lmlab.runs.checkpoint import checkpoint_path, load_weights
from lmlab.runs.run_dir import RunDir, write_atomic
from lmlab.runs.trainer import train
from lmlab.tokenizers import save_tokenizer
from lmlab.training.optim import decay_groups
from lmlab.training.policy import evaluate_and_save
from lmlab.training.schedule import lr_at
from lmlab.training.session import build_session

from .conftest import SHARED_DATA, TINY, tiny_config, with_vocab


def test_schedule_warms_up_then_decays_to_the_floor():
    config = tiny_config(
        "train.max_steps=100", "train.warmup_steps=10", "train.lr=1e-3", "train.min_lr=1e-4"
    ).train
    assert lr_at(0, config) == pytest.approx(1e-4)
    assert lr_at(9, config) == pytest.approx(1e-3)
    assert lr_at(55, config) == pytest.approx(1e-4 + 0.5 * 9e-4)  # cosine midpoint
    assert lr_at(100, config) == pytest.approx(1e-4)
    linear = tiny_config("train.max_steps=100", "train.warmup_steps=0", "train.lr_decay=linear").train
    assert lr_at(50, linear) == pytest.approx(linear.min_lr + 0.5 * (linear.lr - linear.min_lr))
    rates = [lr_at(s, config) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_wsd_schedule_holds_the_rate_then_cools_down_linearly():
    config = tiny_config(
        "train.max_steps=100",
        "train.warmup_steps=10",
        "train.lr=1e-3",
        "train.min_lr=1e-5",
        "train.lr_decay=wsd",
        "train.cooldown_steps=20",
    ).train
    assert lr_at(5, config) == pytest.approx(6e-4)
    assert [lr_at(s, config) for s in (10, 50, 79)] == pytest.approx([1e-3] * 3)
    assert lr_at(89, config) == pytest.approx(1e-3 + 0.5 * (1e-5 - 1e-3))
    assert lr_at(99, config) == pytest.approx(1e-5)
    with pytest.raises(LmlabError, match="cooldown_steps"):
        tiny_config("train.max_steps=100", "train.cooldown_steps=101")
    for key in ("train.cooldown_steps=20", "train.cooldown_fraction=0.4"):  # only wsd reads them
        with pytest.raises(LmlabError, match=f"{key} applies to train.lr_decay=wsd, not cosine"):
            tiny_config("train.max_steps=100", "train.lr_decay=cosine", key)


def test_weight_decay_only_on_linear_matrices():
    model = build_model(with_vocab(tiny_config("model.bias=true", "model.tie_weights=false")).model)
    decayed, kept = decay_groups(model, decay_embeddings=False)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in decayed} == {
        n for n, p in model.named_parameters() if p.dim() == 2 and "embedding" not in n
    }
    assert all(p.dim() == 1 or "embedding" in names[id(p)] for p in kept)
    decayed_all, _ = decay_groups(model, decay_embeddings=True)
    assert len(decayed_all) == len(decayed) + 2


def test_a_run_writes_config_tokenizer_metrics_and_checkpoints(tmp_path):
    result = train(tiny_config(), tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    assert result.step == 8 and not result.interrupted
    assert json.loads(run.config_file.read_text())["model"]["vocab_size"] == 65
    assert run.tokenizer().vocab_size == 65
    metrics = run.metrics()
    assert [r["step"] for r in metrics] == [0, 4, 8]
    assert set(metrics[0]) == {
        "step",
        "tokens",
        "train_loss",
        "val_loss",
        "param_norm",
        "lr",
        "time",
        "train_time",
    }
    assert metrics[-1]["tokens"] == 8 * 4 * 16
    assert metrics[-1]["val_loss"] < metrics[0]["val_loss"]
    assert result.best_val_loss == min(r["val_loss"] for r in metrics)
    for which in ("last", "best"):
        files = sorted(p.name for p in run.checkpoint(which).iterdir())
        assert files == ["model.safetensors", "optimizer.safetensors", "state.json"]
    state = json.loads((run.last_checkpoint / "state.json").read_text())
    assert state["step"] == 8 and {"torch", "batches"} <= set(state["rng"])
    assert "token_embedding.weight" in load_file(run.last_checkpoint / "model.safetensors")
    assert not list(run.path.glob("checkpoints/.*")), "no temporary folders left behind"


def _weights(path):
    return load_file(path / "checkpoints" / "last" / "model.safetensors")


def test_cpu_runs_repeat_bit_for_bit(tmp_path):
    config = tiny_config("model.dropout=0.1")
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = _weights(tmp_path / "a")
    train(tiny_config("model.dropout=0.1", "train.seed=2"), tmp_path / "c", progress=False)
    assert not torch.equal(
        other["token_embedding.weight"], _weights(tmp_path / "c")["token_embedding.weight"]
    )


@pytest.mark.parametrize("stop_after", [3, 4])  # between evaluations, and on one
def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, stop_after):
    config = tiny_config("model.dropout=0.1", "train.grad_accum_steps=2")
    train(config, tmp_path / "straight", progress=False)
    first = train(config, tmp_path / "resumed", stop_after_step=stop_after, progress=False)
    assert first.step == stop_after
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    straight, resumed = RunDir(tmp_path / "straight").metrics(), RunDir(tmp_path / "resumed").metrics()
    assert [r["val_loss"] for r in straight] == [r["val_loss"] for r in resumed]


def test_training_into_an_existing_run_is_refused(tmp_path):
    train(tiny_config("train.max_steps=2", "train.eval_interval=2"), tmp_path / "run", progress=False)
    with pytest.raises(LmlabError, match="--resume"):
        train(tiny_config(), tmp_path / "run", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(
        "train.lr=1e30",
        "train.min_lr=1e30",
        "train.grad_clip=0",
        "train.warmup_steps=0",
        "train.max_steps=50",
        "train.log_interval=1",
    )
    with pytest.raises(LmlabError, match="loss became") as error:
        train(config, tmp_path / "run", progress=False)
    assert "last good checkpoint" in str(error.value)
    run = RunDir(tmp_path / "run")
    state = json.loads((run.last_checkpoint / "state.json").read_text())
    weights = _weights(tmp_path / "run")
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert state["step"] < 50


def test_a_save_cut_off_between_renames_falls_back_to_the_previous_checkpoint(tmp_path):
    train(tiny_config("train.max_steps=2", "train.eval_interval=2"), tmp_path / "run", progress=False)
    last = RunDir(tmp_path / "run").last_checkpoint
    old = last.with_name(".last.old")
    os.replace(last, old)  # the state right after the first rename of a save
    assert checkpoint_path(last) == old
    config = RunDir(tmp_path / "run").config()
    load_weights(last, build_model(config.model))


def test_corrupt_or_missing_checkpoints_get_one_line_errors(tmp_path):
    train(tiny_config("train.max_steps=2", "train.eval_interval=2"), tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    model = build_model(run.config().model)
    (run.last_checkpoint / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(LmlabError, match="damaged"):
        load_weights(run.last_checkpoint, model)
    with pytest.raises(LmlabError, match="no checkpoint"):
        load_weights(tmp_path / "nowhere", model)


def test_ctrl_c_saves_a_checkpoint_that_resume_continues(tmp_path):
    run_path = tmp_path / "run"
    overrides = [a for o in TINY if not o.startswith("train.max_steps") for a in ("--set", o)]
    command = [
        sys.executable,
        "-m",
        "lmlab",
        "train",
        "shakespeare-char-cpu",
        *overrides,
        "--set",
        "train.max_steps=100000",
        "--set",
        "train.eval_interval=100000",
        "--out",
        str(run_path),
        "--quiet",
    ]
    env = {**os.environ, "LMLAB_DATA_DIR": str(SHARED_DATA)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_path / "metrics.jsonl"
    deadline = time.time() + 60
    while not metrics.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let it take some steps past the step-0 checkpoint
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted at step" in out
    assert "Traceback" not in err
    step = json.loads((run_path / "checkpoints" / "last" / "state.json").read_text())["step"]
    assert step > 0
    result = train(RunDir(run_path).config(), run_path, resume=True, stop_after_step=step + 2, progress=False)
    assert result.step == step + 2
    assert math.isfinite(result.best_val_loss)


def test_bfloat16_autocast_on_cpu_when_asked(tmp_path):
    result = train(tiny_config("train.dtype=bfloat16", "train.max_steps=4"), tmp_path / "run", progress=False)
    assert math.isfinite(result.best_val_loss)
    weights = _weights(tmp_path / "run")
    assert all(t.dtype == torch.float32 for t in weights.values())  # autocast computes; weights stay fp32


def test_device_choice(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32  # no bf16 on CPU unless asked
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LmlabError, match="train.device=cpu"):
        resolve_device("cuda")


def test_decay_all_decays_every_parameter():
    model = build_model(with_vocab(tiny_config()).model)
    decayed, kept = decay_groups(model, decay_embeddings=False, decay_all=True)
    assert kept == [] and len(decayed) == len(list(model.parameters()))


def test_a_run_killed_right_after_its_first_checkpoint_resumes_without_a_duplicate_record(tmp_path):
    config = with_vocab(tiny_config())
    data = make_batches(config)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    write_atomic(run.config_file, config.to_json())
    save_tokenizer(data.tokenizer, run.tokenizer_file)
    # what a run writes before its first step
    evaluate_and_save(build_session(config, data), run, lr=lr_at(0, config.train))
    train(config, tmp_path / "run", resume=True, progress=False)
    assert [r["step"] for r in RunDir(tmp_path / "run").metrics()] == [0, 4, 8]


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_killed_during_its_first_checkpoint_has_not_started(tmp_path, resume):
    """No complete checkpoint: `train --out` and `--resume` both start over, with no stale record."""
    config = tiny_config()
    path = tmp_path / "run"
    (path / "checkpoints" / ".last.tmp").mkdir(parents=True)  # the save that was cut off
    (path / "checkpoints" / ".last.tmp" / "model.safetensors").write_bytes(b"\0" * 10)
    (path / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9.0, "val_loss": 9.0}\n')
    run = RunDir(path)
    assert not run.is_started() and run.checkpoint_step() is None
    train(config, path, resume=resume, progress=False)
    assert [r["step"] for r in run.metrics()] == [0, 4, 8]
    assert run.metrics()[0]["train_loss"] != 9.0
    assert run.is_started() and run.is_finished(8) and not run.is_finished(9)


def test_a_second_process_cannot_train_into_a_run_in_use(tmp_path):
    """An exclusive lock on RUN/.lock: the second trainer is refused in one line, the first is unharmed."""
    path = tmp_path / "run"
    script = (
        "import time\nfrom pathlib import Path\nfrom lmlab.runs.lock import locked\n"
        f"with locked(Path({str(path)!r})):\n    print('held', flush=True)\n    time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LmlabError, match=f"in use by another lmlab process \\(pid {holder.pid}\\)"):
            train(tiny_config(), path, progress=False)
        assert not (path / "metrics.jsonl").exists() and not (path / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    train(tiny_config(), path, progress=False)  # the lock went with the process that held it
    assert [r["step"] for r in RunDir(path).metrics()] == [0, 4, 8]


def test_a_run_folder_that_stays_empty_is_removed_and_a_file_is_refused(tmp_path):
    bad = tiny_config("model.block_size=200000")  # longer than the validation split: refused after the lock
    with pytest.raises(LmlabError):
        train(bad, tmp_path / "never", progress=False)
    assert not (tmp_path / "never").exists()
    (tmp_path / "file").write_text("mine")
    with pytest.raises(LmlabError, match="is a file, not a run directory"):
        train(tiny_config(), tmp_path / "file", progress=False)
    assert (tmp_path / "file").read_text() == "mine"
