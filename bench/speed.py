"""Speed benchmark: training tokens/s in nanoGPT's CPU recipe, and sampling with and without the KV cache.

    python bench/speed.py --data-dir ../shared/data [--nanogpt-dir PATH] [--iters 2000]

Training: nanoGPT's documented CPU recipe for Tiny Shakespeare (4 layers, 4 heads, 128 embedding,
block 64, batch 12, dropout 0, no compile, lr 1e-3, 100 warm-up steps, cosine decay over 2000
iterations), spelled out below in lmlab's keys. With --nanogpt-dir pointing at a checkout of
karpathy/nanoGPT whose data/shakespeare_char/{train,val}.bin are prepared, its train.py runs the same
recipe on the same machine. Speed: short runs of the two trainers in turn (best and median of
--rounds each), so that the machine's noise hits both alike; each evaluates only at its start and end,
so per-iteration times hold training only. Quality: full runs, scored by the recipe's 20-batch
estimate and by lmlab's evaluator over the whole validation split (nanoGPT's checkpoint loaded into
its own model class). Sampling: 500 new tokens, batch 1,
from the shakespeare-char and nanogpt-cpu architectures (randomly initialised: speed does
not depend on the weights). The plain reference loop (bench/reference_loop.py: explicit attention, a
host sync every step, per-parameter AdamW) runs the same recipe in the same rounds, with peak memory.
On a CUDA GPU, --peak-tflops adds the model FLOPs utilisation of --mfu-preset ((6·N + 12·L·C·T)·tokens/s
over the peak, N = the weights of every Linear layer; tokens/s over the second half of the run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from reference_loop import train_plain  # bench/ is on the path when this script runs

from lmlab.config import apply_overrides
from lmlab.data.corpus import load_corpus
from lmlab.evaluation.loss import evaluate_split
from lmlab.generation.decode import generate
from lmlab.models import build_model
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.training.memory import peak_memory_mib, reset_peak_memory

NANOGPT_CPU_RECIPE = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


# nanoGPT's CPU recipe in lmlab's keys, spelled out so the benchmark does not move when presets do;
# lmlab unties the output layer (nanoGPT ties it): 8,320 more parameters, lower val loss
LMLAB_CPU_RECIPE = [
    "model.n_layer=4",
    "model.n_head=4",
    "model.n_embd=128",
    "model.block_size=64",
    "model.dropout=0.0",
    "model.bias=false",
    "model.tie_weights=false",
    "train.batch_size=12",
    "train.grad_accum_steps=1",
    "train.lr=1e-3",
    "train.min_lr=1e-4",
    "train.warmup_steps=100",
    "train.lr_decay=cosine",
    "train.weight_decay=0.1",
    "train.beta1=0.9",
    "train.beta2=0.99",
    "train.grad_clip=1.0",
    "train.eval_steps=20",
    "train.compile=false",
    "train.dtype=float32",
]


def lmlab_run(iters: int, data_dir: Path | None, run_path: Path, *overrides: str) -> dict[str, float]:
    """Train the recipe for `iters` iterations with lmlab's trainer; the time excludes evaluation."""
    settings = [
        *LMLAB_CPU_RECIPE,
        f"train.max_steps={iters}",
        f"train.eval_interval={iters}",
        "train.device=cpu",
        *overrides,
    ]
    train(
        apply_overrides(load_preset("shakespeare-char-cpu"), settings),
        run_path,
        data_dir=data_dir,
        progress=False,
    )
    metrics = RunDir(run_path).metrics()
    seconds = metrics[-1]["time"]  # training time: the clock starts after the step-0 evaluation
    return {"ms_per_iter": 1000 * seconds / iters, "val_loss": metrics[-1]["val_loss"]}


def nanogpt_run(nanogpt_dir: Path, iters: int, out_dir: Path) -> dict[str, float]:
    """Run nanoGPT's train.py in the recipe; mean time of the iterations that hold no evaluation."""
    command = [
        sys.executable,
        "train.py",
        *NANOGPT_CPU_RECIPE,
        f"--max_iters={iters}",
        f"--eval_interval={iters}",
        f"--out_dir={out_dir}",
        "--always_save_checkpoint=True",
    ]
    result = subprocess.run(command, cwd=nanogpt_dir, capture_output=True, text=True, check=True)
    times = [
        float(t)
        for it, t in re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", result.stdout)
        if 0 < int(it) < iters
    ]  # iteration 0 and the last one include an evaluation
    val_losses = re.findall(r"step \d+: train loss [\d.]+, val loss ([\d.]+)", result.stdout)
    return {"ms_per_iter": statistics.mean(times), "val_loss": float(val_losses[-1])}


def whole_split_val_loss(model: torch.nn.Module, data_dir: Path | None) -> float:
    """Val loss over every target of the split, by lmlab's evaluator (non-overlapping 64-token windows)."""
    corpus = load_corpus(load_preset("shakespeare-char-cpu").data, data_dir)
    return evaluate_split(model, corpus.val, 64, 256, torch.device("cpu")).loss


class _NanoGPTLogits(torch.nn.Module):
    """nanoGPT's forward returns full-sequence logits only when given targets; adapt it to lmlab's."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx, *, cache=None, segments=None):
        return self.model(idx, torch.zeros_like(idx))[0]


def nanogpt_val_loss(nanogpt_dir: Path, out_dir: Path, data_dir: Path | None) -> float:
    sys.path.insert(0, str(nanogpt_dir))
    from model import GPT, GPTConfig  # nanoGPT's own model file

    checkpoint = torch.load(out_dir / "ckpt.pt", map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])
    return whole_split_val_loss(_NanoGPTLogits(model), data_dir)


def reference_run(iters: int, data_dir: Path | None) -> dict[str, float]:
    """The plain loop of bench/reference_loop.py on the same corpus and recipe."""
    corpus = load_corpus(load_preset("shakespeare-char-cpu").data, data_dir)
    return train_plain(corpus.train, iters, vocab_size=corpus.tokenizer.vocab_size)


def bench_speed(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, float]]:
    """Alternate short runs of the trainers, so that the machine's noise hits all alike.

    Peak memory (MiB) is the process's peak RSS during the run on CPU (it includes Python, torch and
    the corpus; not measured for nanoGPT, a separate process).
    """
    names = ["lmlab", "reference loop"] + (["nanogpt"] if args.nanogpt_dir else [])
    times: dict[str, list[float]] = {name: [] for name in names}
    memory: dict[str, float] = {}
    cpu = torch.device("cpu")
    for round_ in range(args.rounds):
        reset_peak_memory(cpu)
        run = lmlab_run(args.speed_iters, args.data_dir, workdir / f"speed-{round_}")
        times["lmlab"].append(run["ms_per_iter"])
        memory["lmlab"] = max(memory.get("lmlab", 0.0), peak_memory_mib(cpu) or 0.0)
        reset_peak_memory(cpu)
        times["reference loop"].append(reference_run(args.speed_iters, args.data_dir)["ms_per_iter"])
        memory["reference loop"] = max(memory.get("reference loop", 0.0), peak_memory_mib(cpu) or 0.0)
        if args.nanogpt_dir:
            run = nanogpt_run(args.nanogpt_dir, args.speed_iters, workdir / f"nano-speed-{round_}")
            times["nanogpt"].append(run["ms_per_iter"])
    return {
        name: {
            "best_ms": min(ms),
            "median_ms": statistics.median(ms),
            "tokens_per_s": 12 * 64 / (min(ms) / 1000),
            "peak_mib": memory.get(name),
            "rounds": ms,
        }
        for name, ms in times.items()
    }


def matmul_parameters(model: torch.nn.Module) -> int:
    """N of the 6·N FLOPs per token: the weights of every Linear layer (the output layer included)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def flops_per_token(model: torch.nn.Module, config) -> float:
    """Training FLOPs per token: 6·N for the matmul weights plus 12·L·C·T for attention's scores and
    weighted sum (PaLM's appendix B; nanoGPT's estimate_mfu counts the same)."""
    attention = 12 * config.model.n_layer * config.model.n_embd * config.model.block_size
    return 6 * matmul_parameters(model) + attention


def bench_mfu(
    preset: str,
    iters: int,
    peak_tflops: float | None,
    data_dir: Path | None,
    workdir: Path,
    device: str = "cuda",
    overrides: Sequence[str] = (),
) -> dict:
    """Train `preset` for `iters` steps; tokens/s over the second half (torch.compile and warm-up done
    in the first), model FLOPs utilisation = FLOPs per token x tokens/s / peak, and peak memory."""
    run_path = workdir / "mfu"
    half = max(1, iters // 2)
    settings = [f"train.max_steps={2 * half}", f"train.eval_interval={half}", f"train.device={device}"]
    reset_peak_memory(torch.device(device))
    config = apply_overrides(load_preset(preset), [*settings, *overrides])
    train(config, run_path, data_dir=data_dir, progress=False)
    *_, middle, last = RunDir(run_path).metrics()
    config, _tokenizer, model = load_model(RunDir(run_path), "last", device)
    tokens_per_s = (last["tokens"] - middle["tokens"]) / (last["train_time"] - middle["train_time"])
    flops = flops_per_token(model, config)
    return {
        "preset": preset,
        "steps": 2 * half,
        "matmul_parameters": matmul_parameters(model),
        "flops_per_token": flops,
        "tokens_per_s": tokens_per_s,
        "mfu": flops * tokens_per_s / (peak_tflops * 1e12) if peak_tflops else None,
        "peak_tflops": peak_tflops,
        "peak_mib": peak_memory_mib(torch.device(device)),
    }


def bench_quality(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, float]]:
    """Full runs: lmlab's recipe (untied output layer) and nanoGPT's model exactly (tied), per seed."""
    results = {}
    for seed in args.seeds:
        for variant, overrides in {"lmlab": [], "lmlab, tied weights": ["model.tie_weights=true"]}.items():
            run_path = workdir / f"full-{seed}-{len(overrides)}"
            full = lmlab_run(args.iters, args.data_dir, run_path, f"train.seed={seed}", *overrides)
            _config, _tokenizer, model = load_model(RunDir(run_path), "last")
            results[f"{variant}, seed {seed}"] = {
                **full,
                "val_loss_exact": whole_split_val_loss(model, args.data_dir),
            }
    if args.nanogpt_dir:
        nano = nanogpt_run(args.nanogpt_dir, args.iters, workdir / "nano-full")
        nano["val_loss_exact"] = nanogpt_val_loss(args.nanogpt_dir, workdir / "nano-full", args.data_dir)
        results["nanoGPT train.py, seed 1337"] = nano
    return results


def bench_sampling(preset: str, new_tokens: int, repeats: int) -> dict[str, float]:
    config = load_preset(preset)
    model_config = dataclasses.replace(config.model, vocab_size=65, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(model_config).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    rates = {}
    for use_cache in (True, False):
        generate(model, prompt, 20, use_cache=use_cache)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            generate(
                model, prompt, new_tokens, use_cache=use_cache, generator=torch.Generator().manual_seed(0)
            )
            best = min(best, time.perf_counter() - start)
        rates["cached" if use_cache else "uncached"] = new_tokens / best
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--nanogpt-dir", type=Path, help="checkout of karpathy/nanoGPT with shakespeare_char data"
    )
    parser.add_argument(
        "--iters", type=int, default=2000, help="iterations of the full runs (val loss); 0 skips"
    )
    parser.add_argument("--speed-iters", type=int, default=200, help="iterations of each timed run")
    parser.add_argument(
        "--seeds",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[1337, 1],
        help="seeds of lmlab's full runs, comma-separated (nanoGPT's is fixed at 1337)",
    )
    parser.add_argument("--rounds", type=int, default=6, help="timed runs per trainer, alternating")
    parser.add_argument("--sample-tokens", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--peak-tflops", type=float, help="CUDA: the GPU's peak dense TFLOP/s (bf16), to report MFU"
    )
    parser.add_argument("--mfu-preset", default="gpt2-small", help="preset trained for the MFU figure")
    parser.add_argument("--mfu-iters", type=int, default=200)
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, python {platform.python_version()}"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as workdir:
        results["speed"] = speed = bench_speed(args, Path(workdir))
        results["quality"] = quality = bench_quality(args, Path(workdir)) if args.iters else {}
    print(
        f"\nTraining speed, nanoGPT CPU recipe (12 x 64 tokens per iteration): {args.rounds} runs of "
        f"{args.speed_iters} iterations per trainer, alternating"
    )
    print("| trainer | best ms/iter | median ms/iter | tokens/s (best) | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, r in speed.items():
        peak = f"{r['peak_mib']:,.0f}" if r["peak_mib"] else "–"
        print(f"| {name} | {r['best_ms']:.1f} | {r['median_ms']:.1f} | {r['tokens_per_s']:,.0f} | {peak} |")
    best = speed["lmlab"]["tokens_per_s"] / speed["reference loop"]["tokens_per_s"]
    median = speed["reference loop"]["median_ms"] / speed["lmlab"]["median_ms"]
    print(f"lmlab / reference loop tokens/s: {best:.2f}x (best runs), {median:.2f}x (median runs)")
    if "nanogpt" in speed:
        best = speed["lmlab"]["tokens_per_s"] / speed["nanogpt"]["tokens_per_s"]
        median = speed["nanogpt"]["median_ms"] / speed["lmlab"]["median_ms"]
        print(f"lmlab / nanoGPT tokens/s: {best:.2f}x (best runs), {median:.2f}x (median runs)")
    if quality:
        print(f"\nVal loss after {args.iters} iterations of the recipe")
        print("| run | val loss (20 batches) | val loss (whole split) |")
        print("|---|---:|---:|")
        for name, r in quality.items():
            print(f"| {name} | {r['val_loss']:.4f} | {r['val_loss_exact']:.4f} |")

    print(f"\nSampling {args.sample_tokens} new tokens, batch 1, best of {args.repeats}")
    print("| architecture | cached tokens/s | uncached tokens/s | speed-up |")
    print("|---|---:|---:|---:|")
    for preset in ("shakespeare-char", "nanogpt-cpu"):
        rates = bench_sampling(preset, args.sample_tokens, args.repeats)
        results[f"sample/{preset}"] = rates
        print(
            f"| {preset} | {rates['cached']:,.0f} | {rates['uncached']:,.0f} | "
            f"{rates['cached'] / rates['uncached']:.1f}x |"
        )
    if args.peak_tflops:
        if not torch.cuda.is_available():
            raise SystemExit("--peak-tflops measures model FLOPs utilisation on a CUDA GPU; none is visible")
        with tempfile.TemporaryDirectory() as workdir:
            mfu = bench_mfu(args.mfu_preset, args.mfu_iters, args.peak_tflops, args.data_dir, Path(workdir))
        results["mfu"] = mfu
        print(
            f"\nModel FLOPs utilisation, {mfu['preset']} on {torch.cuda.get_device_name()}: "
            f"N = {mfu['matmul_parameters']:,} matmul weights, {mfu['tokens_per_s']:,.0f} tokens/s, "
            f"{mfu['flops_per_token'] / 1e9:.2f} GFLOP a token, "
            f"MFU {100 * mfu['mfu']:.1f}% of {args.peak_tflops} TFLOP/s, "
            f"peak memory {mfu['peak_mib']:,.0f} MiB"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
