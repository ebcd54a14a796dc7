"""`lmlab` command line: one module per command (add_parser and its handler); here the parser and main()."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from tqdm import tqdm

from lmlab import __version__
from lmlab.cli import attention, compare, data, info, metrics, plot, report, sample, sweep, train
from lmlab.cli import eval as evaluate
from lmlab.cli import next as next_token
from lmlab.errors import LmlabError
from lmlab.training import distributed

# in help order
COMMANDS = (train, sample, evaluate, plot, metrics, compare, attention, sweep, next_token, info, data, report)


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


def _log_above_progress_bars() -> None:
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    # under torchrun rank 0 reports; the other ranks only warn
    level = logging.INFO if distributed.from_environment().is_main else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    """Run one command: 0 on success, 2 for a user error (one line), 130 interrupted, 1 for a bug."""
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a file name of undecodable bytes prints escaped, not a crash
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        _log_above_progress_bars()
        return args.handler(args) or 0
    except LmlabError as error:  # one line, even when it quotes a value holding a line break
        print(f"lmlab: error: {error}".replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (`lmlab info ... | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except OSError as error:  # the file system refused: a path under a file, no permission, a full disk
        where = f": {error.filename}" if error.filename else ""
        print(f"lmlab: error: {error.strerror or error}{where}; fix the path or use another", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lmlab: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: a bug, told in one line
        if os.environ.get("LMLAB_DEBUG", "0") not in ("", "0"):
            raise
        message = " ".join(str(error).split())  # one line, however the exception wrapped its text
        print(
            f"lmlab: error: unexpected {type(error).__name__}: {message} "
            "(this is a bug in lmlab; rerun with LMLAB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1
