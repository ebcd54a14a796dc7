"""Training speed by torch thread count, alone and beside a busy core: what train.threads=0 picks.

    python bench/threads.py --data-dir ../shared/data [--steps 150] [--rounds 2]

Each preset trains --steps steps (evaluating only at the start and the end) at 1 thread and at every
core, in alternating rounds so the machine's noise hits both alike, first on an idle machine, then with
one CPU-bound process spinning beside it (a laptop running a browser, a shared server). Reported:
training steps per second (the run's train_time, evaluation excluded), best of the rounds, and the
ratio one thread / all threads.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PRESETS = ("scan-simple", "arith-gpt", "shakespeare-bpe", "shakespeare-char-cpu", "shakespeare-char")


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def steps_per_second(preset: str, threads: int, steps: int, data_dir: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "lmlab", "train", preset, "--out", str(out), "--quiet",
                   "--threads", str(threads), "--set", f"train.max_steps={steps}",
                   "--set", f"train.eval_interval={steps}", "--set", "train.eval_steps=1"]  # fmt: skip
        if data_dir:
            command += ["--data-dir", data_dir]
        subprocess.run(command, check=True, capture_output=True)
        last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        return steps / last["train_time"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--presets", default=",".join(PRESETS))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"{cores} cores; steps/s, best of {args.rounds} rounds; ratio = 1 thread / {cores} threads")
    print(f"| preset | machine | 1 thread | {cores} threads | ratio |\n|---|---|---:|---:|---:|")
    for busy in (False, True):
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,)) if busy else None
        if spinner:
            spinner.start()
        try:
            for preset in args.presets.split(","):
                rates: dict[int, list[float]] = {1: [], cores: []}
                for _ in range(args.rounds):
                    for threads in rates:
                        rates[threads].append(steps_per_second(preset, threads, args.steps, args.data_dir))
                one, every = max(rates[1]), max(rates[cores])
                state = "one core busy" if busy else "idle"
                print(f"| {preset} | {state} | {one:.1f} | {every:.1f} | {one / every:.2f} |", flush=True)
        finally:
            if spinner:
                stop.set()
                spinner.join()


if __name__ == "__main__":
    main()
