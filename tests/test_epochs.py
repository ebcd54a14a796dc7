"""Epochs as a unit (train.max_epochs, *_interval_epochs), every step's training loss, `lmlab metrics`
and `lmlab plot --x`."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data.batches import make_batches
from lmlab.errors import LmlabError
from lmlab.experiments.milestones import records_at
from lmlab.loss import training_loss
from lmlab.plots.curves import loss_curves_figure
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.training.epochs import ends_epochs, steps_for_epochs

from .conftest import tiny_config
from .test_arithmetic import TINY_ARITH

# 5 a batch over an epoch of N pairs: epochs rarely end on a step, so the rounding is exercised
EPOCHS = ["model.dropout=0.0", "train.batch_size=5", "train.max_epochs=4", "train.eval_interval_epochs=1"]


def arith_config(*extra: str):
    return apply_overrides(load_preset("arith-gpt"), [*TINY_ARITH, *EPOCHS, *extra])


def _epoch_size(config) -> int:
    return make_batches(config).epoch_size


def test_epoch_arithmetic_rounds_up_to_the_step_that_completes_the_epoch():
    assert steps_for_epochs(1, 12, 5) == 3 and steps_for_epochs(2, 12, 5) == 5
    ends = [step for step in range(11) if ends_epochs(step, 1, 12, 5)]
    assert ends == [0, 3, 5, 8, 10]
    assert [step for step in range(11) if ends_epochs(step, 2, 12, 5)] == [0, 5, 10]


def test_max_epochs_derives_max_steps_and_evaluates_on_epoch_boundaries(tmp_path):
    config = arith_config("train.snapshot_interval_epochs=2")
    n = _epoch_size(config)
    assert n % 5 != 0, "pick a batch size that does not divide the epoch"
    train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    ends = [math.ceil(k * n / 5) for k in range(1, 5)]
    assert run.config().train.max_steps == ends[-1]  # saved resolved, so later commands read it
    records = run.metrics()
    assert [r["step"] for r in records] == [0, *ends]
    for k, record in enumerate(records[1:], start=1):  # the first evaluation at or past each epoch
        assert k <= record["epoch"] < k + 5 / n
    assert run.snapshot_steps() == [0, ends[1], ends[3]]


def test_a_text_corpus_has_no_epochs_and_is_refused_before_anything_is_written(tmp_path):
    for key in ("train.max_epochs=2", "train.eval_interval_epochs=1", "train.snapshot_interval_epochs=1"):
        with pytest.raises(LmlabError, match="has no epochs"):
            train(tiny_config(key), tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()


def test_every_step_records_the_loss_of_the_batch_it_trained_on(tmp_path):
    """Step k+1's recorded loss is the loss of the weights after step k on micro-batches of step k."""
    config = arith_config("train.grad_accum_steps=2", "train.snapshot_interval=1", "train.log_interval=3")
    train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    losses = run.train_losses()
    assert [r["step"] for r in losses] == list(range(1, run.config().train.max_steps + 1))
    data = make_batches(run.config())
    for step in (0, 2, 4):
        _, _, model = load_model(run, f"step-{step}")
        micro = [data.train_batch(step * 2 + i, torch.Generator()) for i in range(2)]
        with torch.no_grad():
            expected = sum(training_loss(model(b.inputs, segments=b.segments), b.targets) for b in micro) / 2
        torch.testing.assert_close(losses[step]["loss"], expected.item())


def test_a_text_run_records_every_step_too(tmp_path):
    train(tiny_config(), tmp_path / "run", progress=False)
    losses = RunDir(tmp_path / "run").train_losses()
    assert [r["step"] for r in losses] == list(range(1, 9))
    assert all(math.isfinite(r["loss"]) for r in losses)


def test_resume_with_epochs_ends_as_the_uninterrupted_run_with_every_step_loss(tmp_path):
    config = arith_config("model.dropout=0.1", "train.log_interval=4")
    train(config, tmp_path / "straight", progress=False)
    first = train(config, tmp_path / "resumed", stop_after_step=7, progress=False)  # not a log or eval step
    assert first.step == 7
    run = RunDir(tmp_path / "resumed")
    with run.train_loss_file.open("a") as f:  # written after the checkpoint, then killed mid-line
        f.write(json.dumps({"step": 8, "loss": 9.0}) + '\n{"step": 9, "lo')
    train(config, tmp_path / "resumed", resume=True, progress=False)
    straight = RunDir(tmp_path / "straight")
    a, b = (load_file(r.last_checkpoint / "model.safetensors") for r in (straight, run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("step", "epoch", "lr", "val_loss"):
        assert [r[key] for r in straight.metrics()] == [r[key] for r in run.metrics()]
    assert straight.train_losses() == run.train_losses()


def test_records_at_takes_the_evaluation_at_or_next_after_each_point():
    records = [
        {"step": s, "epoch": s / 4, "lr": 0.1, "train_loss": 3 - s / 10, "val_loss": 3.5 - s / 10}
        for s in (0, 4, 9, 12)
    ]
    rows = records_at(records, [1, 2, 5], "epoch")
    assert [r["step"] for r in rows] == [4, 9, None]
    assert rows[0] == {"at": 1, "step": 4, "epoch": 1.0, "lr": 0.1, "train_loss": 2.6, "val_loss": 3.1}
    assert [r["step"] for r in records_at(records, [0, 5, 12], "step")] == [0, 9, 12]
    with pytest.raises(LmlabError, match="no epochs"):
        records_at([{"step": 0, "val_loss": 1.0}], [1], "epoch")


def test_metrics_command_prints_the_table_at_epochs_and_steps(tmp_path, capsys):
    train(arith_config(), tmp_path / "run", progress=False)
    records = RunDir(tmp_path / "run").metrics()
    assert main(["metrics", str(tmp_path / "run"), "--at-epochs", "1,3,99"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["at", "step", "epoch", "lr"] and "val acc" in lines[0]
    assert lines[1].split()[:2] == ["1", str(records[1]["step"])]
    assert lines[2].split()[:2] == ["3", str(records[3]["step"])]
    assert lines[3].split()[1:] == ["-"] * 7  # past the end of training
    assert main(["metrics", str(tmp_path / "run"), "--at-steps", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == str(records[1]["step"])
    assert main(["metrics", str(tmp_path / "run"), "--at-epochs", "one"]) == 2
    assert "--at-epochs" in capsys.readouterr().err


def test_plot_against_epoch_tokens_or_step_and_refuses_epochs_for_text(tmp_path, capsys):
    train(arith_config(), tmp_path / "pairs", progress=False)
    train(tiny_config(), tmp_path / "text", progress=False)
    for x in ("step", "epoch", "tokens"):
        out = tmp_path / f"{x}.png"
        assert main(["plot", str(tmp_path / "pairs"), "--x", x, "--out", str(out)]) == 0
        assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(tmp_path / "text"), "--x", "tokens", "--out", str(tmp_path / "t.png")]) == 0
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "text"), "--x", "epoch", "--out", str(tmp_path / "e.png")]) == 2
    err = capsys.readouterr().err
    assert "no epochs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.png").exists()


def test_the_loss_of_each_step_is_drawn_thin_beneath_the_evaluations(tmp_path):
    train(tiny_config(), tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    fig = loss_curves_figure({"run": run.metrics()}, train_losses={"run": run.train_losses()})
    lines = fig.axes[0].get_lines()
    assert list(lines[0].get_xdata()) == list(range(1, 9))  # first drawn: beneath the others
    assert lines[0].get_linewidth() < lines[1].get_linewidth()
    assert lines[0].get_zorder() < lines[1].get_zorder()
    old_call = loss_curves_figure({"run": run.metrics()})  # the signature every other caller uses
    assert len(old_call.axes[0].get_lines()) == 2


def test_compare_and_sweep_know_an_epochs_long_run_is_finished(tmp_path):
    """max_steps of an epochs-long run is worked out when it starts: the preset's own (smaller) value
    must not make a run cut short look finished, nor a finished one train again."""
    from lmlab.experiments.compare import compare, entry_slug, parse_entry
    from lmlab.experiments.sweep import planned_steps

    shared = [*TINY_ARITH, "model.dropout=0.0", "train.batch_size=5"]
    entry = "arith-gpt:train.max_epochs=2,train.max_steps=1"
    config = parse_entry(entry, shared)
    assert planned_steps(config) is None and planned_steps(arith_config("train.max_epochs=0")) == 20
    run = RunDir(tmp_path / entry_slug(entry))
    train(config, run.path, progress=False, stop_after_step=2)  # cut short, as by Ctrl-C
    assert run.checkpoint_step() == 2 and not run.is_finished()
    compare([entry], shared, tmp_path, progress=False)  # resumes it to the end of epoch 2
    two_epochs = steps_for_epochs(2, _epoch_size(config), 5)
    assert run.checkpoint_step() == run.config().train.max_steps == two_epochs
    done = (run.path / "checkpoints" / "last").stat().st_mtime_ns
    compare([entry], shared, tmp_path, progress=False)
    assert (run.path / "checkpoints" / "last").stat().st_mtime_ns == done  # not trained again
