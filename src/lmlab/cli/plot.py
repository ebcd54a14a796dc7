"""`lmlab plot`: train/val loss (and every step's training loss) against step, epoch or tokens, as a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmlab.cli.flags import add_x_axis
from lmlab.errors import LmlabError
from lmlab.plots.curves import plot_loss_curves
from lmlab.runs.run_dir import open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plot", help="PNG of train/val loss against step for one or more runs")
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument(
        "--out", type=Path, help="PNG path (default: RUN_DIR/loss.png for one run, loss.png otherwise)"
    )
    parser.add_argument("--title")
    add_x_axis(parser)
    parser.set_defaults(handler=plot)


def plot(args: argparse.Namespace) -> int:
    runs, train_losses = {}, {}
    for path in args.runs:
        run = open_run(path)
        metrics = run.metrics()
        if not metrics:
            raise LmlabError(
                f"{path} has no metrics yet; train it first (metrics.jsonl is written at each evaluation)"
            )
        runs[path.name], train_losses[path.name] = metrics, run.train_losses()
    out = args.out or (args.runs[0] / "loss.png" if len(args.runs) == 1 else Path("loss.png"))
    print(plot_loss_curves(runs, out, args.title, train_losses=train_losses, x=args.x))
    return 0
