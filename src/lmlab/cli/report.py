"""`lmlab report PATH`: an HTML page and LaTeX pieces for a run, sweep or comparison (see lmlab.reports)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmlab.cli.flags import add_data_dir, add_out, check_device, parse_temperatures
from lmlab.errors import LmlabError
from lmlab.reports import ReportOptions, write_report
from lmlab.reports.run_report import TEMPERATURES_RULE


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `lmlab report` on the main parser's subcommands."""
    parser = sub.add_parser(
        "report", help="self-contained HTML page and LaTeX tables/figures for a run, a sweep or a comparison"
    )
    parser.add_argument("path", type=Path, metavar="RUN_DIR|SWEEP_DIR|COMPARE_DIR")
    add_out(parser, "folder for index.html and latex/ (default PATH/report)")
    add_data_dir(parser, "folder holding the data files (text runs: the corpus)")
    parser.add_argument(
        "--checkpoint",
        default="best",
        help="runs: samples, predictions and attention from best, last or step-N (default best)",
    )
    parser.add_argument(
        "--prompt", help="runs: the samples' and attention grid's prompt (default: one per task)"
    )
    parser.add_argument(
        "--temperature",
        help="text runs: one sample per temperature, comma-separated, each > 0 and from the same seed "
        "(default 0.5,0.8,1.0)",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu (default: seeded samples repeat anywhere) or cuda"
    )
    parser.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    check_device(args.device)
    options = ReportOptions(
        checkpoint=args.checkpoint,
        data_dir=args.data_dir,
        prompt=args.prompt,
        device=args.device,
        temperatures=_temperatures(args.temperature),
    )
    files = write_report(args.path, args.out, options)
    pieces = len(files.latex) - 1
    print(f"report: {files.html}; LaTeX: {files.latex[-1]} ({pieces} pieces beside it; pdflatex compiles it)")
    return 0


def _temperatures(text: str | None) -> tuple[float, ...] | None:
    """`lmlab sample`'s parser; its note that 0 is greedy does not hold here, where 0 is refused."""
    if text is None:
        return None
    try:
        return tuple(value for _, value in parse_temperatures(text, None) if value is not None)
    except LmlabError:
        raise LmlabError(f"{TEMPERATURES_RULE}, not {text!r}") from None
