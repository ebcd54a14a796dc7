"""Speedrun: training seconds until the val loss over the WHOLE validation split first reaches a target.

    python bench/speedrun.py --data-dir ../shared/data \\
        --recipe nanogpt=nanogpt-cpu --recipe best=speedrun-cpu --seeds 1337,1 [--nanogpt-dir PATH]

The target, 1.886, is nanoGPT's CPU recipe's final val loss (its README). Every recipe is an lmlab
preset plus overrides (`LABEL=PRESET[+KEY=VALUE...]`, e.g. `muon=nanogpt-cpu+train.optimizer=muon`),
trained on this machine in one run of the script, seeds alternating over recipes so that the
machine's noise hits all alike. The clock is lmlab's `train_time`: training only, the evaluations and
checkpoint writes excluded. Each run keeps its weights every --every steps; afterwards the script
scores those snapshots on every target of the validation split (non-overlapping windows of the
model's block size) until the first that reaches the target — so evaluating never slows training and
the figure needs no estimate. The seconds of a run that never reaches the target read "not reached".
With --nanogpt-dir (a checkout of karpathy/nanoGPT with data/shakespeare_char/{train,val}.bin), its
own train.py runs the CPU recipe too; its time is to the first of its 20-batch estimates at or below
the target (it keeps no snapshots to score on the whole split), said so in the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from speed import NANOGPT_CPU_RECIPE  # bench/ is on the path when this script runs

from lmlab.config import apply_overrides
from lmlab.data.corpus import load_corpus
from lmlab.evaluation.loss import evaluate_split
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

TARGET = 1.886  # nanoGPT's CPU recipe: val loss 1.8860 after 2,000 iterations (its README)
MARGIN = 0.05  # snapshots whose 20-batch estimate is this far above the target are not scored


def parse_recipe(text: str) -> tuple[str, str, list[str]]:
    """`LABEL=PRESET+KEY=VALUE+...` -> (label, preset, overrides)."""
    label, _, rest = text.partition("=")
    preset, *overrides = rest.split("+")
    if not label or not preset:
        raise SystemExit(
            f"--recipe {text!r}: write LABEL=PRESET[+KEY=VALUE...], "
            "e.g. muon=nanogpt-cpu+train.optimizer=muon"
        )
    return label, preset, overrides


def whole_split_loss(run: RunDir, which: str, val: torch.Tensor) -> float:
    """Val loss of checkpoint `which` over every target of `val` (the run's validation ids)."""
    config, _tokenizer, model = load_model(run, which)
    with torch.inference_mode():
        return evaluate_split(model, val, config.model.block_size, 256, torch.device("cpu")).loss


def validation_ids(run: RunDir, data_dir: Path | None) -> torch.Tensor:
    """The run's validation split, tokenized once for all its snapshots."""
    return load_corpus(run.config().data, data_dir, tokenizer=run.tokenizer()).val


def time_to_target(run: RunDir, target: float, val: torch.Tensor) -> dict:
    """Seconds of training (train_time) at the first snapshot whose whole-split val loss <= target."""
    records = {r["step"]: r for r in run.metrics()}
    steps = sorted(step for step in run.snapshot_steps() if step in records)
    candidates = [s for s in steps if records[s]["val_loss"] <= target + MARGIN]
    scored = {}
    for step in candidates:
        scored[step] = whole_split_loss(run, f"step-{step}", val)
        if scored[step] <= target:
            return {
                "step": step,
                "seconds": records[step]["train_time"],
                "whole_val": scored[step],
                "scored": scored,
            }
    return {"step": None, "seconds": None, "whole_val": None, "scored": scored}


def lmlab_run(
    label: str, preset: str, overrides: list[str], seed: int, every: int, data_dir, workdir: Path
) -> dict:
    settings = [
        *overrides,
        f"train.seed={seed}",
        f"train.eval_interval={every}",
        f"train.snapshot_interval={every}",
        "train.eval_steps=20",
        "train.device=cpu",
    ]
    config = apply_overrides(load_preset(preset), settings)
    run = RunDir(workdir / f"{label}-{seed}")
    train(config, run.path, data_dir=data_dir, progress=False)
    last = run.metrics()[-1]
    val = validation_ids(run, data_dir)
    reached = time_to_target(run, TARGET, val)
    return {
        "recipe": label,
        "seed": seed,
        "seconds": reached["seconds"],
        "step": reached["step"],
        "whole_val_at_target": reached["whole_val"],
        "final_whole_val": whole_split_loss(run, "last", val),
        "total_train_seconds": last["train_time"],
        "steps": last["step"],
        "measured_by": "whole split",
    }


def nanogpt_run(nanogpt_dir: Path, every: int, workdir: Path) -> dict:
    """nanoGPT's train.py in its CPU recipe: seconds (its iteration times, evaluations excluded) to the
    first 20-batch val estimate at or below the target."""
    command = [sys.executable, "train.py", *NANOGPT_CPU_RECIPE, "--max_iters=2000",
               f"--eval_interval={every}", f"--out_dir={workdir / 'nanogpt'}"]  # fmt: skip
    out = subprocess.run(command, cwd=nanogpt_dir, capture_output=True, text=True, check=True).stdout
    times = {int(i): float(ms) for i, ms in re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", out)}
    evals = {
        int(s): float(v) for s, v in re.findall(r"step (\d+): train loss [\d.]+, val loss ([\d.]+)", out)
    }
    # an iteration that evaluates logs the evaluation's time too: count the median iteration instead
    typical = statistics.median(times.values())
    seconds = {
        i: sum(typical if i2 in evals else ms for i2, ms in times.items() if 0 < i2 <= i) / 1000
        for i in evals
    }
    first = next((s for s in sorted(evals) if evals[s] <= TARGET), None)
    return {
        "recipe": "nanoGPT train.py",
        "seed": 1337,
        "seconds": seconds.get(first) if first is not None else None,
        "step": first,
        "final_whole_val": None,
        "total_train_seconds": seconds[max(evals)],
        "steps": max(evals),
        "measured_by": "its 20-batch estimate",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--recipe", action="append", default=[], help="LABEL=PRESET[+KEY=VALUE...]; repeatable"
    )
    parser.add_argument("--seeds", default="1337", help="comma-separated")
    parser.add_argument("--every", type=int, default=50, help="steps between snapshots (the time resolution)")
    parser.add_argument("--nanogpt-dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    recipes = [parse_recipe(r) for r in args.recipe or ["nanogpt-cpu=nanogpt-cpu"]]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; target: whole-split val loss <= {TARGET}")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for label, preset, overrides in recipes:
                results.append(
                    lmlab_run(label, preset, overrides, seed, args.every, args.data_dir, Path(tmp))
                )
                print(json.dumps(results[-1]), flush=True)
        if args.nanogpt_dir:
            results.append(nanogpt_run(args.nanogpt_dir, args.every, Path(tmp)))
    baseline = [r["seconds"] for r in results if r["recipe"] == recipes[0][0] and r["seconds"]]
    print(
        f"\n| recipe | seed | seconds to {TARGET} | step | val loss there | final val loss | train s "
        f"| vs {recipes[0][0]} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        reached = r["seconds"] is not None
        ratio = f"{r['seconds'] / statistics.mean(baseline):.2f}x" if reached and baseline else "–"
        seconds = f"{r['seconds']:.1f}" if reached else "not reached"
        final = f"{r['final_whole_val']:.4f}" if r["final_whole_val"] else "–"
        there = f"{r['whole_val_at_target']:.4f}" if r.get("whole_val_at_target") else r["measured_by"]
        print(f"| {r['recipe']} | {r['seed']} | {seconds} | {r['step'] or '–'} | {there} | {final} | "
              f"{r['total_train_seconds']:.1f} | {ratio} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
