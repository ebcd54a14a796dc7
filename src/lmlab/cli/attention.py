"""`lmlab attention`: heatmaps of every layer's and head's attention on a prompt, once or over training."""

from __future__ import annotations

import argparse

from lmlab.cli.flags import add_out, add_run_arguments, check_at_least, check_device
from lmlab.errors import LmlabError
from lmlab.inspect.attention import attention_map
from lmlab.inspect.frames import pick_frames
from lmlab.plots.attention import plot_attention_grid, plot_attention_over_training
from lmlab.runs.run_dir import load_model, open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "attention", help="heatmaps of every layer's and head's attention on a prompt (PNG grid)"
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--prompt", required=True, help="text (pair tasks: the words after <s>, e.g. '3 + 5 =')"
    )
    add_out(parser, "PNG path (default RUN_DIR/attention.png)")
    parser.add_argument(
        "--step", type=int, help="use the snapshot kept at this step (train.snapshot_interval)"
    )
    parser.add_argument(
        "--over-training",
        action="store_true",
        help="one row per kept snapshot: how attention forms (default RUN_DIR/attention-over-training.png)",
    )
    parser.add_argument("--frames", type=int, default=6, help="--over-training: snapshots drawn (default 6)")
    parser.set_defaults(handler=attention)


def attention(args: argparse.Namespace) -> int:
    check_device(args.device)
    check_at_least("--frames", args.frames, 1)
    run = open_run(args.run)
    if args.over_training:
        return _attention_over_training(args, run)
    which = f"step-{args.step}" if args.step is not None else args.checkpoint
    config, tokenizer, model = load_model(run, which, args.device)
    found = attention_map(model, tokenizer, args.prompt, config.data.is_pair_task)
    title = (
        f"{run.path.name} ({which} checkpoint): attention on {found.text!r}; "
        f"next token {found.next_token!r} (p = {found.probability:.3f})"
    )
    out = plot_attention_grid(found.attentions, found.tokens, title, args.out or run.path / "attention.png")
    print(f"next token {found.next_token!r} with probability {found.probability:.4f}; attention grid: {out}")
    return 0


def _attention_over_training(args: argparse.Namespace, run) -> int:
    """The prompt's attention at up to --frames kept snapshots, evenly spaced, first and last included."""
    steps = run.snapshot_steps()
    if not steps:
        raise LmlabError(
            f"{run.path} kept no snapshots; train with --set train.snapshot_interval=K to keep the weights "
            "every K steps"
        )
    frames, found = [], None
    for step in pick_frames(steps, args.frames):
        config, tokenizer, model = load_model(run, f"step-{step}", args.device)
        found = attention_map(model, tokenizer, args.prompt, config.data.is_pair_task)
        frames.append((f"step {step}: {found.next_token!r} {found.probability:.2f}", found.attentions))
        print(f"step {step}: next token {found.next_token!r} with probability {found.probability:.4f}")
    title = f"{run.path.name}: attention on {found.text!r} through training (row: step, next token, p)"
    out = plot_attention_over_training(
        frames, found.tokens, title, args.out or run.path / "attention-over-training.png"
    )
    print(f"attention over training: {out}")
    return 0
