"""`lmlab metrics`: a run's evaluations as a table, at chosen epochs or steps (or every one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lmlab.cli.flags import parse_int_list
from lmlab.errors import LmlabError
from lmlab.experiments.milestones import records_at
from lmlab.runs.run_dir import open_run

HEADERS = {"step": "step", "epoch": "epoch", "lr": "lr", "train_loss": "train loss", "val_loss": "val loss",
           "train_acc": "train acc", "val_acc": "val acc"}  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "metrics", help="table of a run's step, epoch, lr, losses (and accuracies) at chosen epochs or steps"
    )
    parser.add_argument("run", type=Path, metavar="RUN_DIR")
    points = parser.add_mutually_exclusive_group()
    points.add_argument(
        "--at-epochs", metavar="E1,E2,...", help="the evaluation at or next after each epoch (pair tasks)"
    )
    points.add_argument("--at-steps", metavar="S1,S2,...", help="the evaluation at or next after each step")
    parser.set_defaults(handler=metrics)


def metrics(args: argparse.Namespace) -> int:
    records = open_run(args.run).metrics()
    if not records:
        raise LmlabError(
            f"{args.run} has no metrics yet; train it first (metrics.jsonl is written at each evaluation)"
        )
    if args.at_epochs is not None:
        rows = records_at(records, parse_int_list("--at-epochs", args.at_epochs), "epoch")
    elif args.at_steps is not None:
        rows = records_at(records, parse_int_list("--at-steps", args.at_steps), "step")
    else:
        rows = records_at(records, [r["step"] for r in records], "step")
    print(format_table(rows, with_at=args.at_epochs is not None or args.at_steps is not None))
    return 0


def format_table(rows: list[dict[str, Any]], with_at: bool) -> str:
    """Rows of records_at as aligned text; a point the run has not reached reads "-"."""
    fields = [name for name in rows[0] if name != "at"] if rows else []
    header = (["at"] if with_at else []) + [HEADERS[name] for name in fields]
    lines = [header] + [
        ([str(row["at"])] if with_at else []) + [_cell(name, row[name]) for name in fields] for row in rows
    ]
    widths = [max(len(line[j]) for line in lines) for j in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    )


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "step":
        return str(value)
    if name == "lr":
        return f"{value:.3e}"
    return f"{value:.3f}" if name == "epoch" else f"{value:.4f}"
