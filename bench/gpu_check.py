"""One GPU check: the `cuda` tests, nanoGPT's GPU recipe, and GPT-2-small throughput, into one file.

    python bench/gpu_check.py --data-dir ../shared/data --peak-tflops 989 --out gpu-check.json

On a machine with one CUDA GPU and the repository set up by README's install command (nothing else
is installed): (1) runs `pytest -m cuda`; (2) trains the `shakespeare-char` preset, nanoGPT's GPU
recipe (10.7M parameters, 5,000 steps of 64 x 256, evaluated every 250 steps on 200 batches, compiled
as nanoGPT's train.py is by default) and reports its wall time and its val loss over the whole
validation split (nanoGPT's README: 1.4697 in about 3 minutes on an A100); (3) trains `gpt2-small` for
--gpt2-steps steps and reports tokens/s over the second half, MFU against --peak-tflops (the GPU's dense
bf16 peak: 989 for an H100 SXM, 312 for an A100, 65 for a T4's fp16) and peak memory. Every stage
writes its results into --out as soon as it ends, so a stage that fails or a run cut short keeps what
was measured; a failing stage is recorded and the next one runs. Sized to finish in under 8 minutes on
an H100-class GPU. `--device cpu` with small --steps runs the same stages on a CPU (a dry run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

import torch
from speed import bench_mfu  # bench/ is on the path when this script runs

from lmlab.config import apply_overrides
from lmlab.data.corpus import load_corpus
from lmlab.device import resolve_dtype
from lmlab.evaluation.loss import evaluate_split
from lmlab.presets import load_preset
from lmlab.runs.environment import describe_environment
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.training.memory import peak_memory_mib, reset_peak_memory

REPO = Path(__file__).resolve().parents[1]


def environment(device: torch.device) -> dict:
    """The GPU, its precision support and what train.dtype=auto picks on it."""
    record = describe_environment(device)
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        record.update(
            cuda=torch.version.cuda,
            capability=f"{properties.major}.{properties.minor}",
            memory_gib=round(properties.total_memory / 2**30, 1),
            bf16=torch.cuda.is_bf16_supported(including_emulation=False),
            gpus=torch.cuda.device_count(),
        )
    record["dtype_auto"] = str(resolve_dtype("auto", device)).removeprefix("torch.")
    return record


def cuda_tests(data_dir: Path, workdir: Path) -> dict:
    """`pytest -m cuda`: counts and each test's outcome (from pytest's JUnit XML)."""
    report = workdir / "cuda-tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={report}"]
    env = {**os.environ, "LMLAB_TEST_DATA": str(data_dir)}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        outcome = "failed" if failed is not None else "skipped" if skipped is not None else "passed"
        detail = (failed if failed is not None else skipped).get("message", "") if outcome != "passed" else ""
        outcomes[case.get("name")] = f"{outcome}: {detail[:300]}" if detail else outcome
    counts = {
        kind: sum(v.startswith(kind) for v in outcomes.values()) for kind in ("passed", "failed", "skipped")
    }
    return {
        **counts,
        "returncode": done.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "tests": outcomes,
        "tail": done.stdout[-3000:] if done.returncode else "",
    }


def shakespeare_char(data_dir: Path, workdir: Path, device: str, steps: int, overrides: list[str]) -> dict:
    """nanoGPT's GPU recipe: wall time of the whole run and the val loss over the whole split."""
    run_path = workdir / "shakespeare-char"
    settings = [f"train.device={device}", "train.compile=true", f"train.max_steps={steps}", *overrides]
    config = apply_overrides(load_preset("shakespeare-char"), settings)
    reset_peak_memory(torch.device(device))
    start = time.perf_counter()
    train(config, run_path, data_dir=data_dir, progress=False)
    wall = time.perf_counter() - start
    peak = peak_memory_mib(torch.device(device))
    last = RunDir(run_path).metrics()[-1]
    config, tokenizer, model = load_model(RunDir(run_path), "last", device)
    corpus = load_corpus(config.data, data_dir, tokenizer=tokenizer)
    dtype = resolve_dtype(config.train.dtype, torch.device(device))
    whole = evaluate_split(model, corpus.val, config.model.block_size, 64, torch.device(device), dtype)
    return {
        "steps": last["step"],
        "wall_seconds": round(wall, 1),
        "train_seconds": last["train_time"],
        "val_loss_estimate": last["val_loss"],
        "val_loss_whole_split": whole.loss,
        "val_tokens": whole.tokens,
        "dtype": str(dtype).removeprefix("torch."),
        "peak_mib": peak,
        "nanogpt_a100": {"val_loss": 1.4697, "minutes": 3},
    }


def gpt2_small(
    data_dir: Path, workdir: Path, device: str, steps: int, peak: float | None, overrides: list[str]
) -> dict:
    """Throughput of the GPT-2-small-sized preset (bench/speed.py's measurement)."""
    return bench_mfu("gpt2-small", steps, peak, data_dir, workdir, device, overrides)


def run_stage(results: dict, name: str, out: Path, stage: Callable[[], dict]) -> None:
    """Run one stage, record its result (or its error) and write the results file at once."""
    start = time.perf_counter()
    print(f"== {name} ...", flush=True)
    try:
        results[name] = stage()
    except Exception as error:  # noqa: BLE001 -- record it and go on to the next stage
        results[name] = {
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc()[-3000:],
        }
    results[name]["stage_seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results[name].items() if k not in ("tests", "traceback")}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 (T4: fp16) TFLOP/s, for MFU")
    parser.add_argument("--device", default="cuda", help="cuda; cpu for a dry run of the script")
    parser.add_argument("--steps", type=int, default=5000, help="steps of shakespeare-char (nanoGPT: 5000)")
    parser.add_argument("--gpt2-steps", type=int, default=300)
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest -m cuda")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="an override for both training stages"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU is visible; run this on a GPU machine (or --device cpu for a dry run)")
    device = torch.device(args.device)
    results: dict = {"environment": environment(device), "command": sys.argv}
    args.out.write_text(json.dumps(results, indent=2))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_tests:
            run_stage(results, "cuda_tests", args.out, lambda: cuda_tests(args.data_dir, workdir))
        run_stage(
            results,
            "shakespeare_char",
            args.out,
            lambda: shakespeare_char(args.data_dir, workdir, args.device, args.steps, args.set),
        )
        run_stage(
            results,
            "gpt2_small",
            args.out,
            lambda: gpt2_small(
                args.data_dir, workdir, args.device, args.gpt2_steps, args.peak_tflops, args.set
            ),
        )
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
