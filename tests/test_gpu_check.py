"""bench/gpu_check.py, dry-run on the CPU with a tiny model: its stages run and fill the results file
(on a GPU machine the same script runs the cuda tests and the full-size recipes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .conftest import SHARED_DATA

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
TINY_SETTINGS = [
    "model.n_layer=1", "model.n_head=2", "model.n_embd=32", "model.block_size=32", "train.batch_size=2",
    "train.eval_steps=2", "train.eval_interval=2", "train.compile=false",
]  # fmt: skip


def test_the_gpu_check_dry_run_on_cpu_writes_every_stage(tmp_path):
    out = tmp_path / "check.json"
    overrides = [a for s in TINY_SETTINGS for a in ("--set", s)]
    command = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--skip-tests", "--steps", "4", "--gpt2-steps", "4",
        "--peak-tflops", "1", "--data-dir", str(SHARED_DATA), "--out", str(out), *overrides,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["environment"]["device"] == "cpu" and results["environment"]["dtype_auto"] == "float32"
    char, gpt2 = results["shakespeare_char"], results["gpt2_small"]
    assert "error" not in char and "error" not in gpt2, (char.get("traceback"), gpt2.get("traceback"))
    assert char["steps"] == 4 and char["val_tokens"] == 111_539  # every target of the val split once
    assert 3.0 < char["val_loss_whole_split"] < 4.5  # 65 characters: ln 65 = 4.17 at the start
    assert gpt2["steps"] == 4 and gpt2["tokens_per_s"] > 0
    assert gpt2["mfu"] == gpt2["flops_per_token"] * gpt2["tokens_per_s"] / 1e12
    assert "cuda_tests" not in results


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible here")
def test_the_gpu_check_refuses_to_run_without_a_gpu(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], capture_output=True, text=True
    )
    assert done.returncode != 0 and "no CUDA GPU is visible" in done.stderr
    assert "Traceback" not in done.stderr
