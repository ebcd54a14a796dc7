"""`lmlab compare`: train several presets or variants alike and tabulate them."""

from __future__ import annotations

import argparse

from lmlab.cli.flags import add_data_dir, add_out, add_overrides, add_quiet
from lmlab.experiments.compare import compare as run_comparison
from lmlab.reports.comparison import comparison_markdown, write_comparison


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("compare", help="train several presets or variants alike and tabulate them")
    parser.add_argument(
        "entries",
        nargs="+",
        metavar="PRESET[:KEY=VALUE,...]",
        help="a preset, optionally with its own overrides, e.g. shakespeare-char-cpu:model.norm=rmsnorm",
    )
    add_overrides(parser, "override for every entry, e.g. --set train.max_steps=500")
    add_out(parser, "folder for the runs and results.md", required=True)
    add_data_dir(parser)
    add_quiet(parser)
    parser.set_defaults(handler=compare)


def compare(args: argparse.Namespace) -> int:
    rows = run_comparison(args.entries, args.overrides, args.out, args.data_dir, progress=not args.quiet)
    files = write_comparison(rows, args.out)
    print(comparison_markdown(rows), end="")
    print(f"written to {files.table}, {files.results} and {files.plot}")
    return 0
