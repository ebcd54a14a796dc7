"""Grokking with and without the Grokfast gradient filter: steps and seconds to val accuracy >= 0.99.

    python bench/grokfast.py [--settings 97:0.5,113:0.3] [--seeds 0,1] [--max-steps 5000]

The standard settings: a + b mod 97 with half of the pairs training, and a + b mod 113 with 30%
(Nanda et al. 2023), each trained by the `grokking` preset (one layer, full batch, AdamW with weight
decay 1) and by `grokking-fast` (the same plus train.grad_filter=ema), seeds alternating so that the
machine's noise hits both alike. Steps and seconds (lmlab's train_time: training only) are those of
the first evaluation (every 50 steps) at or above the threshold; "not reached" within --max-steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from lmlab.config import apply_overrides
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train

THRESHOLD = 0.99
PRESETS = {"without": "grokking", "ema filter": "grokking-fast"}


def first_reaching(records: list[dict], threshold: float) -> dict | None:
    return next((r for r in records if r.get("val_acc", 0.0) >= threshold), None)


def run(preset: str, p: int, fraction: float, seed: int, max_steps: int, workdir: Path) -> dict:
    settings = [f"data.p={p}", f"data.r_train={fraction}", f"train.seed={seed}", f"data.split_seed={seed}",
                f"train.max_steps={max_steps}", "train.device=cpu"]  # fmt: skip
    path = workdir / f"{preset}-{p}-{seed}"
    train(apply_overrides(load_preset(preset), settings), path, progress=False)
    records = RunDir(path).metrics()
    reached = first_reaching(records, THRESHOLD)
    return {
        "step": reached["step"] if reached else None,
        "seconds": reached["train_time"] if reached else None,
        "best_val_acc": max(r["val_acc"] for r in records),
        "steps_run": records[-1]["step"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="97:0.5,113:0.3", help="p:training fraction, comma-separated")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = [(int(p), float(f)) for p, f in (s.split(":") for s in args.settings.split(","))]
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for p, fraction in settings:
            for seed in [int(s) for s in args.seeds.split(",")]:
                for label, preset in PRESETS.items():
                    result = {"p": p, "fraction": fraction, "seed": seed, "filter": label}
                    result |= run(preset, p, fraction, seed, args.max_steps, Path(tmp))
                    results.append(result)
                    print(json.dumps(result), flush=True)
    print(
        f"\n| a + b mod p | train share | seed | filter | steps to val acc {THRESHOLD} | seconds "
        "| best val acc |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")
    for r in results:
        step = f"{r['step']:,}" if r["step"] is not None else f"not reached in {r['steps_run']:,}"
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else "–"
        print(f"| {r['p']} | {r['fraction']:.0%} | {r['seed']} | {r['filter']} | {step} | {seconds} | "
              f"{r['best_val_acc']:.4f} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
