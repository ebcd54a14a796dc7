"""SCAN decoding speed: lmlab's batched, cached greedy decoding against a one-at-a-time reference.

    python bench/scan_decode.py RUN_DIR [--data-dir ../shared/data] [--rounds 3] [--reference-limit N]

RUN_DIR is a trained SCAN run (e.g. `lmlab train scan-simple --out runs/scan-simple`). Both decoders
translate the test split of the run's own split (4,182 commands for simple) greedily:
- lmlab: commands grouped by length, 512 per batch, key/value cache, finished rows dropped;
- reference: the loop of the SCAN assignment, one command at a time, the whole sequence re-read
  for every new token (no cache), stopping at </s>.
They run in turn on the same machine, in one process; the report gives seconds, commands/s, the
ratio, and checks that both produce the same actions. --reference-limit times the reference on the
first N commands only and scales its time to the whole split (said in the output).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from lmlab.data.pairs import load_pair_task
from lmlab.generation.translate import translate
from lmlab.models.params import count_parameters
from lmlab.runs.run_dir import RunDir, load_model


@torch.inference_mode()
def reference_greedy(model, tokenizer, source: str) -> str:
    """The straightforward loop: no batch, no cache; the full sequence goes through the model each step."""
    ids = [tokenizer.bos_id, *tokenizer.encode(source)]
    n_source = len(ids)
    out = []
    while len(ids) < model.config.block_size:
        segments = torch.tensor([[0] * n_source + [1] * (len(ids) - n_source)])  # ignored without segments
        next_id = int(model(torch.tensor([ids]), segments=segments)[0, -1].argmax())
        if next_id == tokenizer.eos_id:
            break
        ids.append(next_id)
        out.append(next_id)
    return tokenizer.decode(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed rounds of lmlab's decoder (best and median)"
    )
    parser.add_argument("--reference-limit", type=int, help="time the reference on the first N commands only")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config, tokenizer, model = load_model(RunDir(args.run), "best", "cpu")
    task = load_pair_task(config.data, args.data_dir, tokenizer)
    sources = [s for s, _ in task.test]
    references = [t for _, t in task.test]
    m = config.model
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} torch threads"
    )
    print(
        f"model: {args.run} ({m.n_layer} layers, {m.n_head} heads, {m.n_embd} embedding, "
        f"{count_parameters(model).total:,} parameters); {task.name} test split: {len(sources):,} commands"
    )

    translate(model, tokenizer, sources[:64])  # warm-up
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        batched = translate(model, tokenizer, sources)
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    exact = sum(p == r for p, r in zip(batched, references, strict=True)) / len(sources)
    print(
        f"lmlab batched + cached: best {best:.2f} s, median {median:.2f} s of {args.rounds} "
        f"({len(sources) / best:,.0f} commands/s); exact match {exact:.2%}"
    )

    subset = sources[: args.reference_limit] if args.reference_limit else sources
    start = time.perf_counter()
    reference = [reference_greedy(model, tokenizer, s) for s in subset]
    reference_seconds = time.perf_counter() - start
    scaled = reference_seconds * len(sources) / len(subset)
    note = "" if len(subset) == len(sources) else f" (timed on {len(subset):,}, scaled to {len(sources):,})"
    print(
        f"reference one at a time, uncached: {scaled:.1f} s{note} ({len(sources) / scaled:,.0f} commands/s)"
    )
    agree = sum(a == b for a, b in zip(batched, reference, strict=False)) / len(subset)
    print(
        f"speed-up: {scaled / best:.1f}x (best) / {scaled / median:.1f}x (median); "
        f"identical outputs on {agree:.2%} of the {len(subset):,} commands both decoded"
    )


if __name__ == "__main__":
    main()
