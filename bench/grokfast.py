"""Grokking with and without the Grokfast gradient filter: steps and seconds to val accuracy >= 0.99.

    python bench/grokfast.py [--settings 97:0.5:1200:16000,113:0.3:6000:12000] [--seeds 0,1]
                             [--jobs 2] [--set KEY=VALUE ...] [--json FILE]

The standard settings: a + b mod 97 with half of the pairs training, and a + b mod 113 with 30%
(Nanda et al. 2023). Each is trained by the `grokking-fast` preset (one layer, mini-batches of 512,
AdamW with weight decay 0.05, train.grad_filter=ema with α 0.98 and λ 2: Grokfast's recipe with ten
times its weight decay) and by the same preset with train.grad_filter=none; `--set` changes both arms
alike (`--set train.weight_decay=0.005` is Grokfast's own weight decay). A setting's last two fields
are the step budgets of the filtered and the unfiltered runs; an unfiltered run that ends below the
threshold bounds the ratio from below (steps run / the filtered run's steps).
Steps and seconds (lmlab's train_time: training only) are those of the first evaluation (every 50
steps) at or above the threshold. Runs go --jobs at a time, each a `lmlab train` process with one
torch thread, longest first, so two filtered runs never share the machine unevenly with a baseline.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

THRESHOLD = 0.99
PRESET = "grokking-fast"


def first_reaching(records: list[dict], threshold: float) -> dict | None:
    return next((r for r in records if r.get("val_acc", 0.0) >= threshold), None)


def run(job: dict, workdir: Path, overrides: tuple[str, ...] = ()) -> dict:
    out = workdir / f"{job['p']}-{job['seed']}-{job['filter']}"
    settings = [f"data.p={job['p']}", f"data.r_train={job['fraction']}", f"train.seed={job['seed']}",
                f"data.split_seed={job['seed']}", f"train.max_steps={job['max_steps']}",
                f"train.grad_filter={job['filter']}", "train.device=cpu", *overrides]  # fmt: skip
    command = [sys.executable, "-m", "lmlab", "train", PRESET, "--out", str(out), "--quiet", "--threads", "1"]
    for setting in settings:
        command += ["--set", setting]
    subprocess.run(command, check=True, capture_output=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in records if "val_acc" in r]
    reached = first_reaching(records, THRESHOLD)
    return job | {
        "step": reached["step"] if reached else None,
        "seconds": reached["train_time"] if reached else None,
        "best_val_acc": max(r["val_acc"] for r in records),
        "final_val_acc": records[-1]["val_acc"],
        "steps_run": records[-1]["step"],
        "train_time": records[-1]["train_time"],
        "overrides": list(overrides),
    }


def jobs_for(settings: list[tuple[int, float, int, int]], seeds: list[int]) -> list[dict]:
    jobs = []
    for p, fraction, filter_steps, baseline_steps in settings:
        for seed in seeds:
            for kind, steps in (("none", baseline_steps), ("ema", filter_steps)):
                jobs.append({"p": p, "fraction": fraction, "seed": seed, "filter": kind, "max_steps": steps})
    return sorted(jobs, key=lambda job: -job["max_steps"])  # longest first: the shortest makespan


def table(results: list[dict]) -> str:
    lines = [f"| a + b mod p | train share | seed | filter | steps to val acc {THRESHOLD} | seconds "
             "| best val acc | steps run |", "|---|---:|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in sorted(results, key=lambda r: (r["p"], r["seed"], r["filter"] == "ema")):
        step = f"{r['step']:,}" if r["step"] is not None else "not reached"
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else "–"
        lines.append(f"| {r['p']} | {r['fraction']:.0%} | {r['seed']} | {r['filter']} | {step} | {seconds} "
                     f"| {r['best_val_acc']:.4f} | {r['steps_run']:,} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="97:0.5:1200:16000,113:0.3:6000:12000",
                        help="p:train share:filtered steps:unfiltered steps, comma-separated")  # fmt: skip
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one torch thread each")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every run, e.g. train.weight_decay=0.005")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    fields = [s.split(":") for s in args.settings.split(",")]
    settings = [(int(p), float(f), int(a), int(b)) for p, f, a, b in fields]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.machine()}, {args.jobs} runs at a time with 1 torch thread each, "
          f"torch {torch.__version__}; {PRESET} with {args.overrides or 'no overrides'}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        overrides = tuple(args.overrides)
        futures = [pool.submit(run, job, Path(tmp), overrides) for job in jobs_for(settings, seeds)]
        results = []
        for future in futures:
            results.append(future.result())
            print(json.dumps(results[-1]), flush=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
