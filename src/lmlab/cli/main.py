"""`lmlab` command line: parses arguments and calls library functions (see lmlab.cli.commands)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from lmlab import __version__
from lmlab.cli import commands, report
from lmlab.errors import LmlabError
from lmlab.training import distributed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmlab", description="Build, train and study small language models."
    )
    parser.add_argument("--version", action="version", version=f"lmlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model from a preset (or continue a run with --resume)")
    train.add_argument(
        "preset", nargs="?", help="preset name, e.g. shakespeare-char (see `lmlab info --presets`)"
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.n_layer=4 (repeatable)",
    )
    train.add_argument("--out", type=Path, help="run directory (default: runs/<preset>-<time>)")
    train.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    train.add_argument(
        "--data-dir", type=Path, help="folder holding the data files (else $LMLAB_DATA_DIR, else download)"
    )
    train.add_argument("--device", help="shortcut for --set train.device=...")
    train.add_argument(
        "--train-file", type=Path, help="pair tasks: a file of 'IN: ... OUT: ...' lines to train on"
    )
    train.add_argument("--test-file", type=Path, help="pair tasks: the matching test file")
    train.add_argument(
        "--data-file",
        help="your corpus (preset text): a .txt file, a folder of them or a quoted glob, e.g. 'books/*.txt'",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=commands.train)

    sample = sub.add_parser("sample", help="generate text from a trained run")
    _add_run_arguments(sample)
    sample.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    sample.add_argument("--max-new-tokens", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=0.8, help="0 is greedy decoding")
    sample.add_argument("--top-k", type=int, help="sample only among the k likeliest tokens")
    sample.add_argument(
        "--top-p", type=float, help="sample only among the likeliest tokens holding this much mass"
    )
    sample.add_argument("--num-samples", type=int, default=1)
    sample.add_argument("--seed", type=int, default=None, help="makes sampling repeatable")
    sample.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")
    sample.add_argument("--show-probs", action="store_true", help="print each token's probability after it")
    sample.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="end a sample at the first TEXT (backslash escapes read, e.g. '\\n\\n'); repeatable",
    )
    sample.add_argument(
        "--beam", type=int, default=1, metavar="K", help="SCAN: beam search of width K (default: greedy)"
    )
    sample.set_defaults(handler=commands.sample)

    evaluate = sub.add_parser(
        "eval",
        help="text: exact loss, perplexity, bits/char; pair tasks (SCAN): exact match and its breakdown",
    )
    _add_run_arguments(evaluate)
    evaluate.add_argument("--data-dir", type=Path, help="folder holding the data files")
    evaluate.add_argument(
        "--batch-size", type=int, help="sequences per forward pass (default 64 for loss, 512 for decoding)"
    )
    evaluate.add_argument(
        "--splits",
        help="comma-separated; text: train,val (default both); pair tasks: train,val,test (default test)",
    )
    evaluate.add_argument(
        "--beam", type=int, default=1, metavar="K", help="pair tasks: beam search of width K"
    )
    evaluate.add_argument(
        "--out", type=Path, help="pair tasks: folder for the report (default RUN_DIR/eval/SPLIT-DECODING)"
    )
    evaluate.set_defaults(handler=commands.evaluate)

    plot = sub.add_parser("plot", help="PNG of train/val loss against step for one or more runs")
    plot.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    plot.add_argument(
        "--out", type=Path, help="PNG path (default: RUN_DIR/loss.png for one run, loss.png otherwise)"
    )
    plot.add_argument("--title")
    plot.set_defaults(handler=commands.plot)

    compare = sub.add_parser("compare", help="train several presets or variants alike and tabulate them")
    compare.add_argument(
        "entries",
        nargs="+",
        metavar="PRESET[:KEY=VALUE,...]",
        help="a preset, optionally with its own overrides, e.g. shakespeare-char-cpu:model.norm=rmsnorm",
    )
    compare.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override for every entry, e.g. --set train.max_steps=500",
    )
    compare.add_argument("--out", type=Path, required=True, help="folder for the runs and results.md")
    compare.add_argument("--data-dir", type=Path)
    compare.add_argument("--quiet", action="store_true")
    compare.set_defaults(handler=commands.compare)

    attention = sub.add_parser(
        "attention", help="heatmaps of every layer's and head's attention on a prompt (PNG grid)"
    )
    _add_run_arguments(attention)
    attention.add_argument(
        "--prompt", required=True, help="text (pair tasks: the words after <s>, e.g. '3 + 5 =')"
    )
    attention.add_argument("--out", type=Path, help="PNG path (default RUN_DIR/attention.png)")
    attention.add_argument(
        "--step", type=int, help="use the snapshot kept at this step (train.snapshot_interval)"
    )
    attention.add_argument(
        "--over-training",
        action="store_true",
        help="one row per kept snapshot: how attention forms (default RUN_DIR/attention-over-training.png)",
    )
    attention.add_argument(
        "--frames", type=int, default=6, help="--over-training: snapshots drawn (default 6)"
    )
    attention.set_defaults(handler=commands.attention)

    sweep = sub.add_parser(
        "sweep", help="train a grid of configs over seeds in parallel; summary tables and plots"
    )
    sweep.add_argument(
        "recipe",
        metavar="RECIPE",
        help="a recipe (see `lmlab info --recipes`), a recipe .json file, or a preset",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values of one config key (or preset=A,B), e.g. --grid 'data.r_train=0.1,0.2' (repeatable)",
    )
    sweep.add_argument("--seeds", help="comma-separated seeds, e.g. 0,42 (default: the recipe's, else 0)")
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override for every run",
    )
    sweep.add_argument(
        "--budget-fractions", help="summaries over the first α·T steps too, e.g. 0.1,0.5,1.0 (no retraining)"
    )
    sweep.add_argument(
        "--workers", type=int, help="runs trained at once (default: local, one per CPU core; ray, all)"
    )
    sweep.add_argument(
        "--launcher",
        choices=("local", "ray"),
        default="local",
        help="local processes, or one Ray task per run (pip install 'lmlab[ray]'; --out on shared storage)",
    )
    sweep.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="Ray cluster (default: $RAY_ADDRESS, else one `ray start` runs here, else a new local one)",
    )
    sweep.add_argument(
        "--cpus-per-run", type=int, help="CPUs (and torch threads) each Ray run takes (default 1)"
    )
    sweep.add_argument("--out", type=Path, required=True, help="sweep folder (runs, tables, plots)")
    sweep.add_argument("--data-dir", type=Path)
    sweep.add_argument(
        "--report-only",
        action="store_true",
        help="write tables and plots from the finished runs; train nothing",
    )
    sweep.set_defaults(handler=commands.sweep)

    next_parser = sub.add_parser("next", help="the likeliest next tokens after a prompt, with probabilities")
    _add_run_arguments(next_parser)
    next_parser.add_argument("--prompt", required=True, help="text (pair tasks: the words after <s>)")
    next_parser.add_argument("--top", type=int, default=10, help="how many tokens to list (default 10)")
    next_parser.set_defaults(handler=commands.next_token)

    info = sub.add_parser(
        "info", help="parameter counts of a run or preset; n-gram table sizes; config keys; presets"
    )
    info.add_argument("target", nargs="?", help="run directory, preset name, or ngram (with --vocab and --n)")
    info.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    info.add_argument("--keys", action="store_true", help="list every config key with its type and default")
    info.add_argument("--presets", action="store_true", help="list the shipped presets")
    info.add_argument("--recipes", action="store_true", help="list the shipped sweep recipes")
    info.add_argument("--vocab", type=int, help="ngram: vocabulary size |V|")
    info.add_argument("--n", type=int, default=3, help="ngram: largest order n (default 3)")
    info.add_argument(
        "--model",
        default="shakespeare-char",
        help="ngram: the GPT preset to compare (default shakespeare-char)",
    )
    info.set_defaults(handler=commands.info)
    report.add_parser(sub)
    return parser


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN_DIR")
    parser.add_argument(
        "--checkpoint", default="best", help="best (lowest val loss), last, or step-N (a kept snapshot)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cuda, mps or cpu")


class _TqdmHandler(logging.Handler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    # under torchrun rank 0 reports; the other ranks only warn
    level = logging.INFO if distributed.from_environment().is_main else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)
    try:
        return args.handler(args) or 0
    except LmlabError as error:
        print(f"lmlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lmlab: interrupted", file=sys.stderr)
        return 130
