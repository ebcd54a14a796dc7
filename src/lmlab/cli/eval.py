"""`lmlab eval`: text runs get exact loss, perplexity and bits per character; pair tasks exact match."""

from __future__ import annotations

import argparse

from lmlab.cli.flags import (
    add_data_dir,
    add_out,
    add_run_arguments,
    check_at_least,
    check_device,
    check_seed,
)
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.text_scores import score_text_run
from lmlab.evaluation.translation import evaluate_translation
from lmlab.reports.translation import breakdown_markdown, summary_lines, write_translation_report
from lmlab.runs.run_dir import load_model, open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="text: exact loss, perplexity, bits/char; pair tasks (SCAN): exact match and its breakdown",
    )
    add_run_arguments(parser)
    add_data_dir(parser, "folder holding the data files")
    parser.add_argument(
        "--batch-size", type=int, help="sequences per forward pass (default 64 for loss, 512 for decoding)"
    )
    parser.add_argument(
        "--splits",
        help="comma-separated; text: train,val (default both); pair tasks: train,val,test (default test; "
        "arithmetic has no test split: val)",
    )
    parser.add_argument("--beam", type=int, default=1, metavar="K", help="pair tasks: beam search of width K")
    parser.add_argument(
        "--temperature",
        type=float,
        metavar="T",
        help="pair tasks: sampled decoding at temperature T instead of greedy (0 is greedy)",
    )
    parser.add_argument("--seed", type=int, help="pair tasks: makes sampled decoding repeatable")
    parser.add_argument(
        "--oracle-length",
        action="store_true",
        help="pair tasks: hold each prediction to its reference's length (</s> suppressed until then, "
        "then forced), Lake & Baroni's oracle; scores the actions, not the end-of-sequence decision",
    )
    add_out(parser, "pair tasks: folder for the report (default RUN_DIR/eval/SPLIT-DECODING)")
    parser.set_defaults(handler=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    check_device(args.device)
    check_at_least("--batch-size", args.batch_size, 1, " (leave it out for the default)")
    check_at_least("--beam", args.beam, 1, " (1 is greedy decoding)")
    check_at_least("--temperature", args.temperature, 0, " (0 is greedy decoding)")
    check_seed(args.seed)
    if args.temperature is not None and args.beam != 1:
        raise LmlabError("--beam and --temperature do not mix: beam search is not sampled; give one of them")
    run = open_run(args.run)
    config, tokenizer, model = load_model(run, args.checkpoint, args.device)
    if config.data.is_pair_task:
        return _evaluate_pairs(args, run, config, tokenizer, model)
    if args.temperature is not None or args.seed is not None or args.oracle_length:
        raise LmlabError(
            "--temperature, --seed and --oracle-length are for pair tasks (SCAN, arithmetic); "
            "a text run has no decoding"
        )
    splits = _parse_splits(args.splits or "train,val", ("train", "val"))
    batch_size = args.batch_size or 64  # None: not given (0 and below were refused above)
    scores = score_text_run(config, tokenizer, model, run.data_dir(args.data_dir), splits, batch_size)
    print(
        f"{run.path} ({args.checkpoint} checkpoint), "
        f"{tokenizer.vocab_size}-token {config.data.tokenizer} vocabulary"
    )
    print(
        f"{'split':<6} {'tokens':>10} {'characters':>11} {'loss/token':>10} {'perplexity':>11} "
        f"{'bits/token':>10} {'bits/char':>10}"
    )
    for split, score in scores.items():
        print(
            f"{split:<6} {score.tokens:>10,} {score.characters:>11,} {score.loss:>10.4f} "
            f"{score.perplexity:>11.3f} {score.bits_per_token:>10.4f} {score.bits_per_character:>10.4f}"
        )
    return 0


def _parse_splits(text: str, known: tuple[str, ...]) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(splits) - set(known)
    if unknown or not splits:
        raise LmlabError(f"--splits has unknown split(s) {sorted(unknown)}; use {', '.join(known)}")
    return splits


def _evaluate_pairs(args: argparse.Namespace, run, config, tokenizer, model) -> int:
    task = load_pair_task(config.data, run.data_dir(args.data_dir), tokenizer)
    print(f"{run.path} ({args.checkpoint} checkpoint), {task.name}")
    if task.warning:
        print(f"WARNING: {task.warning}")
    splits = _parse_splits(args.splits or task.held_out, ("train", "val", "test"))
    if "test" in splits and task.held_out == "val":
        print(f"note: {task.name} has no test split; its held-out pairs are val, scored as val")
        splits = list(dict.fromkeys("val" if s == "test" else s for s in splits))
    for split in splits:
        temperature = args.temperature or 0.0
        report = evaluate_translation(
            model,
            tokenizer,
            task.split(split),
            split,
            args.beam,
            batch_size=args.batch_size or 512,
            temperature=temperature,
            seed=args.seed,
            oracle_length=args.oracle_length,
        )
        decoding = "greedy" if args.beam == 1 else f"beam{args.beam}"
        if temperature > 0:
            decoding = f"t{temperature:g}" + (f"-seed{args.seed}" if args.seed is not None else "")
        if args.oracle_length:
            decoding += "-oracle"
        out_dir = args.out / split if args.out else run.path / "eval" / f"{split}-{decoding}"
        paths = write_translation_report(report, out_dir)
        print("\n".join(summary_lines(report)))
        print(breakdown_markdown(report))
        print(f"wrong predictions: {paths['wrong']}; chart: {paths['plot']}; tables: {paths['summary']}")
    return 0
