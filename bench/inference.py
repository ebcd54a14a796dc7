"""Inference speed: lmlab's cached decoding against Hugging Face transformers' GPT-2 with the same weights.

    OMP_NUM_THREADS=1 python bench/inference.py [--preset shakespeare-char] [--new-tokens 500]
        [--batch-sizes 1,32] [--repeats 3] [--sample] [--device cpu]

Give torch no more threads than there are idle cores: on a busy machine extra threads wait for each
other at every operation (on 2 cores shared with training runs, 2 threads decoded 5x slower than 1).

The network: the preset's GPT shape (shakespeare-char: 6 layers, 6 heads, 384 wide, vocabulary 65)
made expressible as GPT-2 (layernorm, learned positions, biases, exact GELU), dropout 0, randomly
initialised (speed does not depend on the weights) and copied into transformers' GPT2LMHeadModel,
which uses the same fused attention kernel (SDPA). block_size (HF's n_positions) is raised to
--block-size, 512 by default, so that the 1-token prompt and 500 new tokens fit: HF's GPT-2 cannot
decode past n_positions, and lmlab would slide its window and refill the cache past block_size, so
with a smaller block the two would not do the same work. Here both do one cached step per new token,
attending to every earlier one.

Each timed call is one whole generation in eval mode and torch.inference_mode(): lmlab's
`generate(temperature=0)` and HF's `generate(do_sample=False, use_cache=True)` with exactly
--new-tokens new tokens; with --sample both draw from softmax(logits) at temperature 1, no top-k or
top-p, seeded. The prompt is one random token per row. After a warm-up of each, the implementations
alternate for --repeats rounds so that the machine's noise hits both alike. tokens/s = new tokens x
batch / seconds, best and median. Peak memory: on CUDA torch.cuda.max_memory_allocated during the
run; on CPU the process's peak resident set size (RSS, Linux VmHWM, reset before each run), which
also counts Python, torch, both models and whatever the allocator kept from earlier runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch

from lmlab.generation.decode import generate
from lmlab.models import build_model
from lmlab.models.hf_gpt2 import to_hf_gpt2
from lmlab.presets import load_preset
from lmlab.training.memory import peak_memory_mib, reset_peak_memory

GPT2_COMPATIBLE = dict(bias=True, norm="layernorm", position="learned", activation="gelu", dropout=0.0)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def lmlab_runner(model, prompt: torch.Tensor, new_tokens: int, sample: bool) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        generator = torch.Generator(prompt.device).manual_seed(0)
        return generate(model, prompt, new_tokens, temperature=1.0 if sample else 0.0, generator=generator)

    return run


def hf_runner(hf_model, prompt: torch.Tensor, new_tokens: int, sample: bool) -> Callable[[], torch.Tensor]:
    options = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if sample else dict(do_sample=False)

    def run() -> torch.Tensor:
        torch.manual_seed(0)  # HF samples from the global generator
        return hf_model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            use_cache=True,
            **options,
        )

    return run


def timed(run: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, float, torch.Tensor]:
    """(seconds, peak memory MiB, output ids) of one generation."""
    reset_peak_memory(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with torch.inference_mode():
        ids = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, peak_memory_mib(device), ids


def bench_batch(models: dict, batch_size: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Time every implementation at one batch size, alternating; tokens/s, memory and their outputs."""
    prompt = torch.randint(models["lmlab"].config.vocab_size, (batch_size, 1), device=device)
    runners = {
        "lmlab": lmlab_runner(models["lmlab"], prompt, args.new_tokens, args.sample),
        "HF transformers": hf_runner(models["HF transformers"], prompt, args.new_tokens, args.sample),
    }
    for run in runners.values():
        run()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    memory: dict[str, float] = {name: 0.0 for name in runners}
    outputs = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            elapsed, peak, outputs[name] = timed(run, device)
            seconds[name].append(elapsed)
            memory[name] = max(memory[name], peak)
    assert all(ids.shape == (batch_size, 1 + args.new_tokens) for ids in outputs.values())
    tokens = args.new_tokens * batch_size
    return {
        name: {
            "best": tokens / min(s),
            "median": tokens / statistics.median(s),
            "memory_mib": memory[name],
            "ids": outputs[name],
        }
        for name, s in seconds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="shakespeare-char", help="the GPT shape to copy")
    parser.add_argument("--block-size", type=int, default=512, help="positions of both models")
    parser.add_argument("--new-tokens", type=int, default=500)
    parser.add_argument("--batch-sizes", type=lambda t: [int(x) for x in t.split(",")], default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3, help="timed generations per implementation")
    parser.add_argument("--sample", action="store_true", help="sample at temperature 1 instead of greedy")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if 1 + args.new_tokens > args.block_size:
        parser.error(
            f"1 + --new-tokens must fit in --block-size={args.block_size}, or lmlab slides its window"
        )

    device = torch.device(args.device)
    preset = load_preset(args.preset).model
    config = dataclasses.replace(preset, vocab_size=65, block_size=args.block_size, **GPT2_COMPATIBLE)
    torch.manual_seed(0)
    model = build_model(config).to(device).eval()
    models = {"lmlab": model, "HF transformers": to_hf_gpt2(model)}

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"machine: {name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, transformers {version('transformers')}, python {platform.python_version()}"
    )
    print(
        f"model: {args.preset} shape, {config.n_layer} layers, {config.n_head} heads, {config.n_embd} wide, "
        f"block {config.block_size}, vocab {config.vocab_size}, tied {config.tie_weights}, float32"
    )
    memory_kind = "peak allocated MiB" if device.type == "cuda" else "peak RSS MiB"
    mode = "sampling at temperature 1, seeded" if args.sample else "greedy"
    print(
        f"\n{args.new_tokens} new tokens from a 1-token prompt, {mode}, KV cache, inference_mode; "
        f"{args.repeats} timed runs each, alternating"
    )
    columns = f"tokens/s (best) | tokens/s (median) | {memory_kind} | lmlab / HF (best)"
    print(f"| batch | implementation | {columns} |")
    print("|---:|---|---:|---:|---:|---:|")
    for batch_size in args.batch_sizes:
        results = bench_batch(models, batch_size, args, device)
        ratio = results["lmlab"]["best"] / results["HF transformers"]["best"]
        for impl, r in results.items():
            shown = f"{ratio:.2f}x" if impl == "lmlab" else ""
            print(
                f"| {batch_size} | {impl} | {r['best']:,.0f} | {r['median']:,.0f} | "
                f"{r['memory_mib']:,.0f} | {shown} |"
            )
        if not args.sample:
            same = torch.equal(results["lmlab"]["ids"], results["HF transformers"]["ids"])
            print(f"|  | greedy tokens identical: {'yes' if same else 'NO'} | | | | |")


if __name__ == "__main__":
    main()
