"""`lmlab sample`: generate text from a trained run (pair tasks: translate one command)."""

from __future__ import annotations

import argparse
import sys

import torch

from lmlab.cli.flags import add_run_arguments, check_at_least, check_device, check_seed, parse_temperatures
from lmlab.errors import LmlabError
from lmlab.generation.decode import stream
from lmlab.generation.stop import StopFilter, generate_texts, parse_stop
from lmlab.generation.text_stream import TextStream
from lmlab.generation.translate import check_words, translate
from lmlab.inspect.prompt import read_prompt, start_text
from lmlab.runs.run_dir import load_model, open_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sample", help="generate text from a trained run")
    add_run_arguments(parser)
    parser.add_argument(
        "--prompt", help="text to continue (default: a newline; a capital letter if newlines are no token)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument(
        "--temperature",
        help="0 is greedy decoding (default 0.8; pair tasks: greedy); several, comma-separated "
        "(1.5,1.0,0.1), print one block each from the same --seed",
    )
    parser.add_argument("--top-k", type=int, help="sample only among the k likeliest tokens")
    parser.add_argument(
        "--top-p", type=float, help="sample only among the likeliest tokens holding this much mass"
    )
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="makes sampling repeatable")
    parser.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")
    parser.add_argument("--show-probs", action="store_true", help="print each token's probability after it")
    parser.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="end a sample at the first TEXT (backslash escapes read, e.g. '\\n\\n'); repeatable",
    )
    parser.add_argument(
        "--beam", type=int, default=1, metavar="K", help="SCAN: beam search of width K (default: greedy)"
    )
    parser.set_defaults(handler=sample)


def sample(args: argparse.Namespace) -> int:
    check_device(args.device)
    temperatures = parse_temperatures(args.temperature, None)
    if args.top_p is not None and not 0 < args.top_p <= 1:  # NaN is refused too
        raise LmlabError(f"--top-p must be in (0, 1] (1 keeps every token), not {args.top_p}")
    for flag, value in (
        ("--top-k", args.top_k),
        ("--max-new-tokens", args.max_new_tokens),
        ("--num-samples", args.num_samples),
        ("--beam", args.beam),
    ):
        check_at_least(flag, value, 1)
    check_seed(args.seed)
    if args.temperature is not None and args.beam != 1:
        raise LmlabError("--beam and --temperature do not mix: beam search is not sampled; give one of them")
    config, tokenizer, model = load_model(open_run(args.run), args.checkpoint, args.device)
    seed = args.seed if args.seed is not None else torch.seed()  # one start for every temperature
    for i, (label, temperature) in enumerate(temperatures):
        if len(temperatures) > 1:
            sys.stdout.write(("\n" if i else "") + f"--- temperature {label} ---\n")
        if config.data.is_pair_task:
            _translate_prompt(args, tokenizer, model, temperature or 0.0, seed)
        else:
            _sample_text(args, tokenizer, model, 0.8 if temperature is None else temperature, seed)
    return 0


def _sample_text(args: argparse.Namespace, tokenizer, model, temperature: float, seed: int) -> None:
    device = next(model.parameters()).device
    if args.prompt is None:
        args.prompt = start_text(tokenizer)
    prompt_ids, _ = read_prompt(tokenizer, args.prompt, False).fit(model.context_size).tensors(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    stops = [parse_stop(text) for text in args.stop]
    options = dict(
        temperature=temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        use_cache=not args.no_cache,
        generator=generator,
    )
    out = sys.stdout
    if args.num_samples > 1 and not args.show_probs:  # one batch; each sample printed when all are done
        texts = generate_texts(
            model, tokenizer, prompt_ids, args.num_samples, args.max_new_tokens, stops, **options
        )
        out.write(("\n" + "-" * 40 + "\n").join(args.prompt + text + "\n" for text in texts))
        return
    for i in range(args.num_samples):
        if i:
            out.write("\n" + "-" * 40 + "\n")
        out.write(args.prompt)
        text_stream, stop_filter = TextStream(tokenizer), StopFilter(stops)
        for token, prob in stream(model, prompt_ids, args.max_new_tokens, **options):
            shown = stop_filter.push(text_stream.push(int(token)))
            if args.show_probs:  # every token with its probability, the one that completes a stop included
                out.write(f"{tokenizer.token_text(int(token))}[{float(prob):.2f}]")
            else:
                out.write(shown)
            out.flush()
            if stop_filter.stopped:
                break
        if not args.show_probs:
            out.write(stop_filter.push(text_stream.flush()) + stop_filter.flush())
        out.write("\n")


def _translate_prompt(args: argparse.Namespace, tokenizer, model, temperature: float, seed: int) -> None:
    """`lmlab sample` on a pair task: the command's actions, greedy, sampled or by beam search.

    Sampled (temperature > 0): --num-samples draws, one a line, from the seeded generator; greedy
    and beam search are deterministic, so they print one line.
    """
    command = " ".join((args.prompt or "").split())
    check_words(tokenizer, command)
    count = args.num_samples if temperature > 0 else 1
    predictions = translate(
        model, tokenizer, [command] * count, beam_width=args.beam, temperature=temperature, seed=seed
    )
    print("\n".join(predictions))
