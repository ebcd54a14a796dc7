"""`lmlab` command line: one module per command (add_parser and its handler); here the parser and main()."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from lmlab import __version__
from lmlab.cli import attention, compare, info, plot, report, sample, sweep, train
from lmlab.cli import eval as evaluate
from lmlab.cli import next as next_token
from lmlab.errors import LmlabError
from lmlab.training import distributed

COMMANDS = (train, sample, evaluate, plot, compare, attention, sweep, next_token, info, report)  # help order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmlab", description="Build, train and study small language models."
    )
    parser.add_argument("--version", action="version", version=f"lmlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


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
