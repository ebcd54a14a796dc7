"""Byte-level BPE speed: lmlab's trainer and encoder against Hugging Face `tokenizers`, same corpus.

    RAYON_NUM_THREADS=1 python bench/bpe_speed.py [--text PATH | --data-dir ../shared/data]
        [--vocab-size 500] [--repeats 3]

Both backends train a byte-level BPE of --vocab-size ids on the whole text (GPT-2 regex chunks, 256
byte symbols, no special tokens), then encode the whole text with a freshly loaded tokenizer, so
lmlab's chunk cache starts cold as Hugging Face's does. The backends alternate within each repeat;
the table gives the best of --repeats. Hugging Face's Rust code is multithreaded: its thread count
is RAYON_NUM_THREADS (default: one per core), printed with the results. Text defaults to Tiny
Shakespeare, found like the tests find it (../shared/data beside the repository), else by lmlab's
data directory rules.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from lmlab.data.download import locate
from lmlab.data.shakespeare import TINY_SHAKESPEARE
from lmlab.tokenizers import BPETokenizer, HFBPETokenizer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKENDS: dict[str, type[BPETokenizer] | type[HFBPETokenizer]] = {
    "lmlab": BPETokenizer,
    "hf tokenizers": HFBPETokenizer,
}


def seconds(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def bench(text: str, vocab_size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Best train and encode seconds of each backend over `repeats` alternating rounds."""
    results = {name: {"train_s": float("inf"), "encode_s": float("inf")} for name in BACKENDS}
    for _ in range(repeats):
        for name, kind in BACKENDS.items():
            train_s, tokenizer = seconds(lambda kind=kind: kind.fit(text, vocab_size))
            fresh = kind.from_dict(tokenizer.to_dict())  # a cold encoding cache
            encode_s, ids = seconds(lambda fresh=fresh: fresh.encode_array(text))
            assert fresh.decode(ids.tolist()) == text, f"{name} does not round-trip the text"
            r = results[name]
            r.update(
                train_s=min(r["train_s"], train_s),
                encode_s=min(r["encode_s"], encode_s),
                tokens=len(ids),
                vocab_size=tokenizer.vocab_size,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, help="a UTF-8 text file (default: Tiny Shakespeare)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=SHARED_DATA if SHARED_DATA.exists() else None,
        help="holds Tiny Shakespeare",
    )
    parser.add_argument("--vocab-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import tokenizers

    path = args.text or locate(TINY_SHAKESPEARE, args.data_dir)
    text = path.read_text(encoding="utf-8")
    threads = os.environ.get("RAYON_NUM_THREADS") or f"unset, one per core ({os.cpu_count()})"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, tokenizers {tokenizers.__version__}"
    )
    print(f"Hugging Face threads: RAYON_NUM_THREADS={threads}; lmlab: 1 thread (pure Python)")
    print(f"text: {path} ({len(text):,} characters), vocab_size {args.vocab_size}, best of {args.repeats}\n")

    results = bench(text, args.vocab_size, args.repeats)
    print("| backend | train s | encode s | tokens | chars/token | vocab_size |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['train_s']:.3f} | {r['encode_s']:.3f} | {r['tokens']:,} | "
            f"{len(text) / r['tokens']:.3f} | {r['vocab_size']} |"
        )
    ours, theirs = results["lmlab"], results["hf tokenizers"]
    print(
        f"| lmlab / hf | {ours['train_s'] / theirs['train_s']:.2f}x | "
        f"{ours['encode_s'] / theirs['encode_s']:.2f}x | {ours['tokens'] / theirs['tokens']:.4f}x | | |"
    )


if __name__ == "__main__":
    main()
