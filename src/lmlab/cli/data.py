"""`lmlab data`: a preset's data set, its sizes and one training batch decoded, x against y."""

from __future__ import annotations

import argparse

from lmlab.cli.flags import add_data_dir, add_overrides
from lmlab.config import apply_overrides
from lmlab.data.preview import data_preview
from lmlab.presets import load_preset


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "data", help="a preset's data: split sizes, vocabulary and one training batch, x against y"
    )
    parser.add_argument("preset", metavar="PRESET", help="a preset name (lmlab info --presets lists them)")
    add_overrides(parser, "config override, e.g. --set data.dataset=scan --set train.batch_size=8")
    add_data_dir(parser, "folder of the data sets (default: $LMLAB_DATA_DIR or the download cache)")
    parser.add_argument("--rows", type=int, default=2, help="rows of the batch to show (default 2)")
    parser.set_defaults(handler=data)


def data(args: argparse.Namespace) -> int:
    config = apply_overrides(load_preset(args.preset), args.overrides)
    print("\n".join(data_preview(config, args.data_dir, max(args.rows, 0))))
    return 0
