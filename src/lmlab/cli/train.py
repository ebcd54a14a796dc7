"""`lmlab train`: train a model from a preset, or continue a run with --resume."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lmlab.api.training import train_config
from lmlab.cli.flags import add_data_dir, add_out, add_overrides, add_quiet
from lmlab.config import apply_overrides
from lmlab.errors import LmlabError
from lmlab.presets import load_preset, preset_names
from lmlab.runs.run_dir import default_run_path, open_run
from lmlab.runs.trackers import check_trackers
from lmlab.training import distributed


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model from a preset (or continue a run with --resume)")
    parser.add_argument(
        "preset", nargs="?", help="preset name, e.g. shakespeare-char (see `lmlab info --presets`)"
    )
    add_overrides(parser, "override a config value, e.g. --set model.n_layer=4 (repeatable)")
    add_out(parser, "run directory (default: runs/<preset>-<time>)")
    parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    add_data_dir(parser, "folder holding the data files (else $LMLAB_DATA_DIR, else download)")
    parser.add_argument("--device", help="shortcut for --set train.device=...")
    parser.add_argument(
        "--threads", type=int, help="torch threads, shortcut for --set train.threads=N (0: by model size)"
    )
    parser.add_argument(
        "--checkpoint",
        choices=("last", "best"),
        help="with --resume: continue from this checkpoint (default last; best when last is damaged)",
    )
    parser.add_argument(
        "--train-file", type=Path, help="pair tasks: a file of 'IN: ... OUT: ...' lines to train on"
    )
    parser.add_argument("--test-file", type=Path, help="pair tasks: the matching test file")
    parser.add_argument(
        "--data-file",
        help="your corpus (preset text): a .txt file, a folder of them or a quoted glob, e.g. 'books/*.txt'",
    )
    parser.add_argument(
        "--log",
        metavar="TRACKERS",
        help="also log the curves to tensorboard (RUN/tensorboard), wandb (RUN/wandb; WANDB_MODE=offline "
        "needs no account) or both: --log tensorboard,wandb. Off by default, and on --resume unless given",
    )
    add_quiet(parser, "no progress bar")
    parser.set_defaults(handler=train)


def train(args: argparse.Namespace) -> int:
    trackers = check_trackers(args.log)  # refused (unknown, or not installed) before any work
    overrides = list(args.overrides) + ([f"train.device={args.device}"] if args.device else [])
    overrides += [f"train.threads={args.threads}"] if args.threads is not None else []
    for key, path in (("data.train_file", args.train_file), ("data.test_file", args.test_file)):
        if path is not None:
            if not path.is_file():
                raise LmlabError(f"{path} is not a file; give a file of 'IN: <command> OUT: <actions>' lines")
            overrides.append(f"{key}={path.resolve()}")
    if args.data_file is not None:
        # absolute, so later commands find the corpus from any folder (a glob stays a glob)
        data_file = os.path.abspath(os.path.expanduser(args.data_file))
        overrides += ["data.dataset=text", f"data.data_file={data_file}"]
    if args.checkpoint is not None and args.resume is None:
        raise LmlabError(
            "--checkpoint chooses where --resume continues from; add --resume RUN_DIR or drop it"
        )
    if args.resume is not None:
        if args.preset:
            raise LmlabError("--resume continues a run with its own config; drop the preset name")
        if args.out is not None:
            raise LmlabError("--resume continues the run in its own folder; drop --out")
        run = open_run(args.resume)
        config = apply_overrides(run.config(), overrides)
        run_path = run.path
    else:
        if not args.preset:
            raise LmlabError(
                "name a preset to train, e.g. `lmlab train shakespeare-char`; "
                f"presets: {', '.join(preset_names())}"
            )
        config = apply_overrides(load_preset(args.preset), overrides)
        run_path = args.out or default_run_path(args.preset)
    result = train_config(
        config,
        run_path,
        data_dir=args.data_dir,
        resume=args.resume is not None,
        progress=not args.quiet,
        resume_from=args.checkpoint or "last",
        trackers=trackers,
    )
    if not distributed.from_environment().is_main:  # torchrun's other ranks leave the report to rank 0
        return 130 if result.interrupted else 0
    state = "interrupted at" if result.interrupted else "finished at"
    print(f"{state} step {result.step}; best val loss {result.best_val_loss:.4f}; run saved in {run_path}")
    return 130 if result.interrupted else 0
