"""`lmlab next`: the likeliest next tokens after a prompt, with their probabilities."""

from __future__ import annotations

import argparse

from lmlab.cli.flags import add_run_arguments, check_at_least, check_device
from lmlab.inspect.next_token import next_tokens
from lmlab.runs.run_dir import load_model, open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("next", help="the likeliest next tokens after a prompt, with probabilities")
    add_run_arguments(parser)
    parser.add_argument("--prompt", required=True, help="text (pair tasks: the words after <s>)")
    parser.add_argument("--top", type=int, default=10, help="how many tokens to list (default 10)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="show softmax(logits / T) (default 1.0: the model's own distribution; 0: greedy)",
    )
    parser.set_defaults(handler=next_token)


def next_token(args: argparse.Namespace) -> int:
    check_device(args.device)
    check_at_least("--top", args.top, 1)
    check_at_least("--temperature", args.temperature, 0, " (0 puts all mass on the likeliest token)")
    config, tokenizer, model = load_model(open_run(args.run), args.checkpoint, args.device)
    ranked = next_tokens(
        model, tokenizer, args.prompt, config.data.is_pair_task, args.top, temperature=args.temperature
    )
    at = "" if args.temperature == 1.0 else f" at temperature {args.temperature:g}"
    print(
        f"{args.run} ({args.checkpoint} checkpoint): the {len(ranked)} likeliest tokens after "
        f"{args.prompt!r}{at}"
    )
    print(f"{'rank':>4}  {'token':<16} {'id':>6}  {'probability':>11}")
    for rank, candidate in enumerate(ranked, start=1):
        print(f"{rank:>4}  {candidate.text!r:<16} {candidate.token_id:>6}  {candidate.probability:>11.4f}")
    print(f"      {'(these together)':<23}  {sum(c.probability for c in ranked):>11.4f}")
    return 0
