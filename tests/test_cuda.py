"""The CUDA paths, on a real GPU: skipped where none is visible (CI), run by bench/gpu_check.sh.

    python -m pytest -m cuda

Tolerances are for float32 on one GPU unless a test says otherwise: cuBLAS and atomics may sum in
another order than the CPU, so "equal" means within float32 rounding, never bit for bit across paths.
"""

import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import ModelConfig
from lmlab.generation.decode import generate
from lmlab.loss import training_loss
from lmlab.models import build_model
from lmlab.models.layers import CausalSelfAttention
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, TINY, tiny_config, with_vocab

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.sh)"),
]
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def no_tf32():
    """Training turns TF32 on for speed; these comparisons want float32 matmuls (restored after)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _weights(path):
    return load_file(path / "checkpoints" / "last" / "model.safetensors")


def _gpt(*extra):
    torch.manual_seed(0)
    return build_model(with_vocab(tiny_config(*extra)).model).to(CUDA).eval()


@pytest.mark.parametrize("position", ["learned", "rotary"])
def test_greedy_decoding_with_and_without_the_cache_agree_on_cuda(position):
    model = _gpt(f"model.position={position}")
    idx = torch.randint(65, (3, 5), generator=torch.Generator().manual_seed(0)).to(CUDA)
    cached = generate(model, idx, 40, temperature=0, use_cache=True)  # past block_size=16: window slides
    uncached = generate(model, idx, 40, temperature=0, use_cache=False)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_explicit_and_sdpa_attention_agree_on_cuda(dtype):
    torch.manual_seed(0)
    attention = CausalSelfAttention(ModelConfig(vocab_size=10, n_embd=64, n_head=4, block_size=64))
    attention = attention.to(CUDA).eval()
    x = torch.randn(2, 48, 64, device=CUDA)
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        fused, _ = attention(x)  # SDPA: flash or memory-efficient kernels on CUDA
        explicit, _ = attention(x, need_weights=True)
    tolerance = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 2e-2}
    torch.testing.assert_close(fused.float(), explicit.float(), **tolerance)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_mixed_precision_step_is_finite_and_near_float32(dtype):
    model = _gpt().train()
    idx = torch.randint(65, (8, 16), device=CUDA, generator=torch.Generator(CUDA).manual_seed(1))
    targets = torch.roll(idx, -1, dims=1)
    losses, grads = {}, {}
    for name, autocast_dtype in (("float32", None), ("mixed", dtype)):
        model.zero_grad()
        with torch.autocast(
            "cuda", dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
        ):
            loss = training_loss(model(idx), targets, "token")
        scale = 1024.0 if dtype == torch.float16 else 1.0  # as GradScaler would, then undone
        (loss * scale).backward()
        losses[name] = loss.item()
        grads[name] = torch.cat([p.grad.flatten() / scale for p in model.parameters()])
    assert torch.isfinite(grads["mixed"]).all()
    assert abs(losses["mixed"] - losses["float32"]) < 1e-2 * losses["float32"]
    cosine = torch.nn.functional.cosine_similarity(grads["mixed"], grads["float32"], dim=0)
    assert cosine > 0.99


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_training_on_cuda_follows_float32(tmp_path, dtype):
    reference = train(
        tiny_config("train.device=cuda", "train.dtype=float32"), tmp_path / "fp32", progress=False
    )
    mixed = train(tiny_config("train.device=cuda", f"train.dtype={dtype}"), tmp_path / dtype, progress=False)
    assert abs(mixed.best_val_loss - reference.best_val_loss) < 2e-2 * reference.best_val_loss
    weights = _weights(tmp_path / dtype)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())
    if dtype == "float16":
        assert RunDir(tmp_path / dtype).metrics()[-1]["loss_scale"] > 0


def test_fused_adamw_steps_as_foreach_adamw():
    models = [_gpt().train() for _ in range(2)]
    optimizers = [
        torch.optim.AdamW(models[0].parameters(), lr=1e-3, fused=True),
        torch.optim.AdamW(models[1].parameters(), lr=1e-3, foreach=True),
    ]
    idx = torch.randint(65, (4, 16), device=CUDA, generator=torch.Generator(CUDA).manual_seed(2))
    for _ in range(5):
        for model, optimizer in zip(models, optimizers, strict=True):
            training_loss(model(idx), torch.roll(idx, -1, dims=1), "token").backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_compiled_training_on_cuda_matches_eager(tmp_path, caplog):
    eager = train(tiny_config("train.device=cuda", "train.compile=false"), tmp_path / "eager", progress=False)
    with caplog.at_level(logging.WARNING):
        compiled = train(
            tiny_config("train.device=cuda", "train.compile=true"), tmp_path / "compiled", progress=False
        )
    assert "torch.compile is not available" not in caplog.text  # inductor really compiled, no fallback
    eager_curve = [r["val_loss"] for r in RunDir(tmp_path / "eager").metrics()]
    compiled_curve = [r["val_loss"] for r in RunDir(tmp_path / "compiled").metrics()]
    torch.testing.assert_close(compiled_curve, eager_curve, rtol=1e-3, atol=1e-3)
    assert abs(compiled.best_val_loss - eager.best_val_loss) < 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_resume_on_cuda_continues_the_uninterrupted_run(tmp_path, dtype):
    config = tiny_config("train.device=cuda", f"train.dtype={dtype}", "model.dropout=0.1")
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", stop_after_step=3, progress=False)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    # the CUDA RNG, optimizer and scaler come back; atomics in the embedding's backward may sum in
    # another order, so within float32 rounding (a lost state moves weights by ~lr = 1e-3)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=2e-5)
    state = json.loads((tmp_path / "resumed/checkpoints/last/state.json").read_text())
    assert "cuda" in state["rng"]


def _torchrun(run_path, processes, *extra):
    overrides = [a for o in [*TINY, "train.device=cuda", *extra] for a in ("--set", o)]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
        "-m", "lmlab", "train", "shakespeare-char-cpu", *overrides,
        "--data-dir", str(SHARED_DATA), "--out", str(run_path), "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return RunDir(run_path)


def test_torchrun_with_one_process_trains_on_the_gpu(tmp_path):
    run = _torchrun(tmp_path / "run", 1)
    assert run.metrics()[-1]["step"] == 8
    assert json.loads((run.path / "checkpoints/last/state.json").read_text())["world_size"] == 1


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs for an NCCL run")
def test_torchrun_over_two_gpus_with_nccl_matches_one_process(tmp_path):
    ddp = _torchrun(tmp_path / "ddp", 2, "train.grad_accum_steps=2")
    one = train(
        tiny_config("train.device=cuda", "train.grad_accum_steps=4"), tmp_path / "one", progress=False
    )
    ddp_curve = [r["val_loss"] for r in ddp.metrics()]
    one_curve = [r["val_loss"] for r in RunDir(tmp_path / "one").metrics()]
    torch.testing.assert_close(ddp_curve, one_curve, rtol=1e-3, atol=1e-4)
    assert json.loads((ddp.path / "checkpoints/last/state.json").read_text())["world_size"] == 2
    assert one.step == 8
