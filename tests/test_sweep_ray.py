"""Sweeps through `--launcher ray`: a local Ray instance trains a real 2-run sweep, resumable like local."""

from __future__ import annotations

import json
import sys
import types
import uuid

import pytest

from lmlab.cli.main import main
from lmlab.runs.run_dir import RunDir

TINY = [
    "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=16",
    "--set", "data.p=5", "--set", "train.max_steps=12", "--set", "train.eval_interval=4",
    "--set", "train.device=cpu",
]  # fmt: skip
RUNS = ["r_train=0.3_seed=0", "r_train=0.5_seed=0"]


@pytest.fixture(scope="module")
def ray_instance():
    """One small local Ray instance for the module; the launcher uses this process's connection."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN", uuid.uuid4().hex)  # else Ray writes a new token into ~/.ray
        env.setenv("OMP_NUM_THREADS", "1")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=100 * 2**20,
            ignore_reinit_error=True,
        )
        yield ray
        ray.shutdown()


def _sweep(out, *extra: str) -> list[str]:
    return ["sweep", "arith-gpt", "--grid", "data.r_train=0.3,0.5", "--launcher", "ray", "--out", str(out),
            *TINY, *extra]  # fmt: skip


def test_a_ray_sweep_trains_every_run_once(ray_instance, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(_sweep(out)) == 0
    printed = capsys.readouterr().out
    assert all(f"{run}: trained" in printed for run in RUNS)
    for run in RUNS:
        path = out / "runs" / run
        assert RunDir(path).is_finished(12)
        steps = [json.loads(line)["step"] for line in (path / "metrics.jsonl").read_text().splitlines()]
        assert steps == [0, 4, 8, 12]
        assert (path / "train.log").read_text().count("step 12:") == 1  # logged on the Ray worker
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 2
    metrics = [(out / "runs" / run / "metrics.jsonl").read_text() for run in RUNS]

    assert main(_sweep(out)) == 0
    printed = capsys.readouterr().out
    assert all(f"{run}: already finished" in printed for run in RUNS) and ": trained" not in printed
    assert [(out / "runs" / run / "metrics.jsonl").read_text() for run in RUNS] == metrics


def test_a_failed_ray_run_is_named_and_the_others_finish(ray_instance, tmp_path, capsys):
    out = tmp_path / "sweep"
    # an absurd learning rate makes the loss non-finite, which stops that run with an error;
    # with --workers 1 the good run is submitted only after the bad one failed
    args = ["sweep", "arith-gpt", "--grid", "train.lr=1e30,0.001", "--launcher", "ray", "--workers", "1",
            "--out", str(out), *TINY]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "lr=0.001_seed=0: trained" in captured.out
    assert "lr=1e30_seed=0: failed: LmlabError: loss became" in captured.out
    assert "1 of 2 runs failed (lr=1e30_seed=0)" in captured.err
    assert RunDir(out / "runs" / "lr=0.001_seed=0").is_finished(12)


def test_ray_set_up_mistakes_get_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main(_sweep(tmp_path / "sweep")) == 2
    error = capsys.readouterr().err.strip()
    assert error == "lmlab: error: `--launcher ray` needs Ray: pip install 'lmlab[ray]'"
    # a Ray with no connection yet, sent to a head nobody listens on: an error, not minutes of retries
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False))
    assert main(_sweep(tmp_path / "sweep", "--ray-address", "127.0.0.1:1")) == 2
    assert "cannot reach a Ray head at 127.0.0.1:1" in capsys.readouterr().err
    assert main(["sweep", "arith-gpt", "--ray-address", "auto", "--out", str(tmp_path / "local")]) == 2
    assert "need --launcher ray" in capsys.readouterr().err
