"""Fault test: training killed with SIGKILL at random moments, resumed, ends as if never interrupted.

With an evaluation and a checkpoint at every step, most of the run's time is spent writing metrics and
checkpoints, so random kills land inside those writes as well as between steps.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from lmlab.runs.run_dir import RunDir

from .conftest import SHARED_DATA, TINY

STEPS = 150  # about 50 steps a second here: the kills land mid-run
SETTINGS = [
    *(o for o in TINY if not o.startswith(("train.max_steps", "train.eval_interval"))),
    f"train.max_steps={STEPS}",
    "train.eval_interval=1",
    "train.log_interval=1",
    "model.dropout=0.1",  # dropout draws from the RNG: its state must come back exactly too
]
CLOCK_FIELDS = ("time", "train_time")  # wall time differs between runs; everything else must not


def _command(run_path, resume: bool) -> list[str]:
    if resume:
        return [sys.executable, "-m", "lmlab", "train", "--resume", str(run_path), "--quiet"]
    overrides = [a for o in SETTINGS for a in ("--set", o)]
    return [sys.executable, "-m", "lmlab", "train", "shakespeare-char-cpu", *overrides,
            "--out", str(run_path), "--quiet"]  # fmt: skip


# every process alike: one thread (a different thread count sums in another order)
ENV = {**os.environ, "LMLAB_DATA_DIR": str(SHARED_DATA), "OMP_NUM_THREADS": "1"}


def _kill_at_random(run_path, rng: random.Random) -> None:
    """Start (or resume) training, wait until it trains, kill it -9 after a random delay."""
    resume = (run_path / "config.json").exists()
    process = subprocess.Popen(_command(run_path, resume), env=ENV, stderr=subprocess.PIPE, text=True)
    metrics = run_path / "metrics.jsonl"
    start = metrics.stat().st_size if metrics.exists() else 0
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if metrics.exists() and metrics.stat().st_size > start:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.8))
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err


def _records(run: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in CLOCK_FIELDS} for r in run.metrics()]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_random_kills_then_resume_end_bit_identical(tmp_path, seed):
    straight = RunDir(tmp_path / "straight")
    subprocess.run(_command(straight.path, resume=False), env=ENV, check=True, capture_output=True)
    killed = RunDir(tmp_path / "killed")
    rng = random.Random(seed)
    kill_steps = []
    for _ in range(3):
        _kill_at_random(killed.path, rng)
        kill_steps.append(killed.checkpoint_step() if killed.config_file.exists() else None)
    assert any(step is None or step < STEPS for step in kill_steps), kill_steps  # some kill was mid-run
    finish = _command(killed.path, resume=killed.is_started())
    subprocess.run(finish, env=ENV, check=True, capture_output=True)

    assert [r["step"] for r in killed.metrics()] == list(range(STEPS + 1))  # each record once, none lost
    assert _records(killed) == _records(straight)
    for which in ("last", "best"):
        a = load_file(straight.checkpoint(which) / "model.safetensors")
        b = load_file(killed.checkpoint(which) / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_sweep_killed_inside_its_runs_checkpoints_finishes_as_if_never_killed(tmp_path):
    """Kill -9 a sweep at random moments while its runs write a checkpoint every step; run it again."""
    settings = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "data.p=5", "train.max_steps=120",
                "train.eval_interval=1", "train.eval_steps=1", "train.device=cpu"]  # fmt: skip

    overrides = [a for s in settings for a in ("--set", s)]

    def sweep(out) -> list[str]:
        return [sys.executable, "-m", "lmlab", "sweep", "arith-gpt", "--grid", "model.n_embd=8,16",
                "--workers", "1", "--out", str(out), *overrides]  # fmt: skip

    subprocess.run(sweep(tmp_path / "straight"), env=ENV, check=True, capture_output=True)
    killed, rng = tmp_path / "killed", random.Random(7)
    for _ in range(2):
        process = subprocess.Popen(sweep(killed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not list(killed.glob("runs/*/metrics.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)  # the sweep and, through its exit, its worker
        process.communicate(timeout=60)
    subprocess.run(sweep(killed), env=ENV, check=True, capture_output=True)
    for name in ("n_embd=8_seed=0", "n_embd=16_seed=0"):
        a, b = RunDir(tmp_path / "straight" / "runs" / name), RunDir(killed / "runs" / name)
        assert [r["step"] for r in b.metrics()] == list(range(121))
        assert _records(a) == _records(b)
        wa, wb = (load_file(r.last_checkpoint / "model.safetensors") for r in (a, b))
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
