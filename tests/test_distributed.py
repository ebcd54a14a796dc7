"""Data parallel: two CPU ranks (gloo) against one process that sees the same global batch.

Two ranks with batch B and accumulation A read exactly the sequences one process with batch B and
accumulation 2A reads (each rank takes its share of one draw), and DDP's average of the ranks'
gradients is that process's average over its micro-batches, so the runs agree up to float32
summation order.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import apply_overrides
from lmlab.data.batches import make_batches
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train
from lmlab.training.distributed import SINGLE, Distributed, from_environment

from .conftest import SHARED_DATA, TINY, tiny_config

# float32 gradients summed in another order (all-reduce across ranks vs accumulation in one process);
# measured after 8 steps: losses 3e-8 relative, weights 2e-7 absolute
LOSS_RTOL = 1e-5


@pytest.fixture(scope="module")
def torchrun_run(tmp_path_factory):
    """`torchrun --nproc-per-node 2 -m lmlab train ...` with the tiny config and 2 accumulation steps."""
    run_path = tmp_path_factory.mktemp("torchrun") / "run"
    overrides = [a for o in [*TINY, "train.grad_accum_steps=2"] for a in ("--set", o)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port on this machine
        "--nproc-per-node",
        "2",
        "-m",
        "lmlab",
        "train",
        "shakespeare-char-cpu",
        *overrides,
        "--data-dir",
        str(SHARED_DATA),
        "--out",
        str(run_path),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return RunDir(run_path), done.stdout


def test_two_ranks_follow_one_process_with_the_same_global_batch(torchrun_run, tmp_path):
    run, _ = torchrun_run
    one = train(tiny_config("train.grad_accum_steps=4"), tmp_path / "one", progress=False).run
    ddp_metrics, one_metrics = run.metrics(), one.metrics()
    assert [r["step"] for r in ddp_metrics] == [r["step"] for r in one_metrics] == [0, 4, 8]
    assert [r["tokens"] for r in ddp_metrics] == [r["tokens"] for r in one_metrics]
    assert ddp_metrics[-1]["tokens"] == 8 * 4 * 2 * 2 * 16  # steps x batch x accumulation x ranks x T
    # step 0: rank 0 holds the single process's initialisation and evaluates the same batches
    assert ddp_metrics[0]["val_loss"] == one_metrics[0]["val_loss"]
    for key in ("train_loss", "val_loss"):
        ddp_curve = torch.tensor([r[key] for r in ddp_metrics], dtype=torch.float64)
        one_curve = torch.tensor([r[key] for r in one_metrics], dtype=torch.float64)
        torch.testing.assert_close(ddp_curve, one_curve, rtol=LOSS_RTOL, atol=0)
    assert ddp_metrics[-1]["val_loss"] < ddp_metrics[0]["val_loss"]
    a, b = _weights(run.path), _weights(one.path)
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def test_only_rank_0_reports_and_writes(torchrun_run):
    run, stdout = torchrun_run
    assert stdout.count("finished at step 8") == 1
    assert sorted(p.name for p in run.path.iterdir()) == [
        ".lock",
        "checkpoints",
        "config.json",
        "data.json",
        "environment.json",
        "loss.png",
        "metrics.jsonl",
        "tokenizer.json",
        "train_loss.jsonl",
    ]
    state = json.loads((run.last_checkpoint / "state.json").read_text())
    assert state["world_size"] == 2
    assert set(state["rng"]) == {"batches", "torch", "torch.rank1"}  # each rank's dropout stream


def test_resume_under_ddp_ends_with_the_weights_of_an_uninterrupted_ddp_run(tmp_path):
    # dropout: rank 1 must get its own RNG state back, not rank 0's
    config = tiny_config("model.dropout=0.1", "train.grad_accum_steps=2")
    _train_on_two_ranks(config, tmp_path / "straight")
    _train_on_two_ranks(config, tmp_path / "resumed", stop_after_step=3)
    assert json.loads((tmp_path / "resumed/checkpoints/last/state.json").read_text())["step"] == 3
    _train_on_two_ranks(config, tmp_path / "resumed", resume=True)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    straight, resumed = RunDir(tmp_path / "straight").metrics(), RunDir(tmp_path / "resumed").metrics()
    assert [(r["val_loss"], r["tokens"]) for r in straight] == [(r["val_loss"], r["tokens"]) for r in resumed]


def test_ranks_take_turns_through_the_windows_one_process_draws():
    data = make_batches(tiny_config(), SHARED_DATA)
    one = torch.Generator().manual_seed(3)
    singles = [data.train_batch(i, one).inputs for i in range(4)]
    ranks = [torch.Generator().manual_seed(3) for _ in range(2)]
    for index in range(2):
        for rank, generator in enumerate(ranks):
            share = data.train_batch(index, generator, rank=rank, world_size=2).inputs
            assert torch.equal(share, singles[2 * index + rank])
        assert torch.equal(ranks[0].get_state(), ranks[1].get_state())  # one generator state for all


def test_ranks_take_turns_through_the_pairs_one_process_reads():
    config = apply_overrides(load_preset("arith-gpt"), ["data.p=5", "train.batch_size=5"])
    data = make_batches(config)
    assert data.epoch_size == 12
    generator = torch.Generator()
    for index in range(3):  # 30 pairs: into the third epoch
        for rank in range(2):
            share = data.train_batch(index, generator, rank=rank, world_size=2).inputs
            assert torch.equal(share, data.train_batch(2 * index + rank, generator).inputs)


def test_torchrun_environment_names_the_rank(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert from_environment() == SINGLE
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc-per-node 1: an ordinary run
    assert from_environment() == SINGLE
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("RANK", "9")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert from_environment() == Distributed(rank=9, world_size=16, local_rank=1)
    assert not from_environment().is_main


def _weights(path):
    return load_file(path / "checkpoints" / "last" / "model.safetensors")


def _train_on_two_ranks(config, run_path, **kwargs) -> None:
    """`train` in two processes forked from this one (no imports to repeat) and told they are ranks."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.start_processes(
        _rank_main, args=(port, config, run_path, kwargs), nprocs=2, start_method="fork"
    )


def _rank_main(rank, port, config, run_path, kwargs) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)  # a forked child must not reuse the parent's thread pool
    train(config, run_path, progress=False, **kwargs)
