"""One function per subcommand: turn parsed arguments into library calls and print the results."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

import torch

from lmlab.config import apply_overrides, config_keys
from lmlab.data import known_vocab_size
from lmlab.data.corpus import load_corpus
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.loss import evaluate_split
from lmlab.evaluation.translation import breakdown_markdown, evaluate_translation, summary_lines, write_report
from lmlab.experiments.compare import compare as run_comparison
from lmlab.experiments.compare import to_markdown
from lmlab.experiments.launchers import Launcher, LocalLauncher, RayLauncher
from lmlab.experiments.results import collect
from lmlab.experiments.sweep import SweepSpec, check_same_sweep, expand, run_sweep
from lmlab.generation.decode import stream
from lmlab.generation.stop import StopFilter, generate_texts, parse_stop
from lmlab.generation.text_stream import TextStream
from lmlab.generation.translate import check_words, translate
from lmlab.inspect.attention import attention_map
from lmlab.inspect.next_token import next_tokens
from lmlab.models import build_model
from lmlab.models.params import count_parameters
from lmlab.plots.attention import plot_attention_grid, plot_attention_over_training
from lmlab.plots.curves import plot_loss_curves
from lmlab.plots.sweep import plot_sweep
from lmlab.presets import load_preset, preset_names
from lmlab.recipes import load_recipe, recipe_names
from lmlab.reports.sweep_tables import write_tables
from lmlab.runs.run_dir import default_run_path, load_model, open_run
from lmlab.runs.trainer import train as run_training
from lmlab.training import distributed


def train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + ([f"train.device={args.device}"] if args.device else [])
    for key, path in (("data.train_file", args.train_file), ("data.test_file", args.test_file)):
        if path is not None:
            if not path.is_file():
                raise LmlabError(f"{path} is not a file; give a file of 'IN: <command> OUT: <actions>' lines")
            overrides.append(f"{key}={path.resolve()}")
    if args.data_file is not None:
        # absolute, so later commands find the corpus from any folder (a glob stays a glob)
        data_file = os.path.abspath(os.path.expanduser(args.data_file))
        overrides += ["data.dataset=text", f"data.data_file={data_file}"]
    if args.resume is not None:
        if args.preset:
            raise LmlabError("--resume continues a run with its own config; drop the preset name")
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
    result = run_training(
        config, run_path, data_dir=args.data_dir, resume=args.resume is not None, progress=not args.quiet
    )
    if not distributed.from_environment().is_main:  # torchrun's other ranks leave the report to rank 0
        return 130 if result.interrupted else 0
    metrics = result.run.metrics()
    if metrics:
        plot_loss_curves({run_path.name: metrics}, run_path / "loss.png")
    state = "interrupted at" if result.interrupted else "finished at"
    print(f"{state} step {result.step}; best val loss {result.best_val_loss:.4f}; run saved in {run_path}")
    return 130 if result.interrupted else 0


def sample(args: argparse.Namespace) -> int:
    if args.temperature < 0:
        raise LmlabError("--temperature must be >= 0 (0 is greedy decoding)")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise LmlabError("--top-p must be in (0, 1]")
    if args.top_k is not None and args.top_k < 1:
        raise LmlabError("--top-k must be at least 1")
    config, tokenizer, model = load_model(open_run(args.run), args.checkpoint, args.device)
    if config.data.is_pair_task:
        return _translate_prompt(args, tokenizer, model)
    device = next(model.parameters()).device
    prompt_ids = torch.tensor([tokenizer.encode(args.prompt)], device=device)
    if prompt_ids.numel() == 0:
        raise LmlabError("the prompt is empty; give at least one character with --prompt")
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed if args.seed is not None else torch.seed())
    stops = [parse_stop(text) for text in args.stop]
    options = dict(
        temperature=args.temperature,
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
        return 0
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
    return 0


def _translate_prompt(args: argparse.Namespace, tokenizer, model) -> int:
    """`lmlab sample` on a pair task: the command's actions, greedy or by beam search."""
    command = " ".join(args.prompt.split())
    check_words(tokenizer, command)
    (actions,) = translate(model, tokenizer, [command], beam_width=args.beam)
    print(actions)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    run = open_run(args.run)
    config, tokenizer, model = load_model(run, args.checkpoint, args.device)
    if config.data.is_pair_task:
        return _evaluate_pairs(args, run, config, tokenizer, model)
    corpus = load_corpus(config.data, args.data_dir, tokenizer)
    device = next(model.parameters()).device
    splits = _parse_splits(args.splits or "train,val", ("train", "val"))
    args.batch_size = args.batch_size or 64
    print(
        f"{run.path} ({args.checkpoint} checkpoint), "
        f"{tokenizer.vocab_size}-token {config.data.tokenizer} vocabulary"
    )
    print(
        f"{'split':<6} {'tokens':>10} {'characters':>11} {'loss/token':>10} {'perplexity':>11} "
        f"{'bits/token':>10} {'bits/char':>10}"
    )
    for split in splits:
        ids = corpus.split(split)
        score = evaluate_split(model, ids, config.model.block_size, args.batch_size, device)
        characters = len(tokenizer.decode(ids[1:].tolist()))  # the predicted targets, as text
        print(
            f"{split:<6} {score.tokens:>10,} {characters:>11,} {score.loss:>10.4f} {score.perplexity:>11.3f} "
            f"{score.bits_per_token:>10.4f} {score.bits_per_character(characters):>10.4f}"
        )
    return 0


def _parse_splits(text: str, known: tuple[str, ...]) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(splits) - set(known)
    if unknown or not splits:
        raise LmlabError(f"--splits has unknown split(s) {sorted(unknown)}; use {', '.join(known)}")
    return splits


def _evaluate_pairs(args: argparse.Namespace, run, config, tokenizer, model) -> int:
    task = load_pair_task(config.data, args.data_dir, tokenizer)
    print(f"{run.path} ({args.checkpoint} checkpoint), {task.name}")
    for split in _parse_splits(args.splits or "test", ("train", "val", "test")):
        report = evaluate_translation(
            model, tokenizer, task.split(split), split, args.beam, batch_size=args.batch_size or 512
        )
        decoding = "greedy" if args.beam == 1 else f"beam{args.beam}"
        out_dir = args.out / split if args.out else run.path / "eval" / f"{split}-{decoding}"
        paths = write_report(report, out_dir)
        print("\n".join(summary_lines(report)))
        print(breakdown_markdown(report))
        print(f"wrong predictions: {paths['wrong']}; chart: {paths['plot']}; tables: {paths['summary']}")
    return 0


def plot(args: argparse.Namespace) -> int:
    runs = {}
    for path in args.runs:
        metrics = open_run(path).metrics()
        if not metrics:
            raise LmlabError(
                f"{path} has no metrics yet; train it first (metrics.jsonl is written at each evaluation)"
            )
        runs[path.name] = metrics
    out = args.out or (args.runs[0] / "loss.png" if len(args.runs) == 1 else Path("loss.png"))
    print(plot_loss_curves(runs, out, args.title))
    return 0


def compare(args: argparse.Namespace) -> int:
    rows = run_comparison(args.entries, args.overrides, args.out, args.data_dir, progress=not args.quiet)
    print(to_markdown(rows), end="")
    print(f"written to {args.out / 'results.md'}, {args.out / 'results.json'} and {args.out / 'loss.png'}")
    return 0


def attention(args: argparse.Namespace) -> int:
    run = open_run(args.run)
    if args.over_training:
        return _attention_over_training(args, run)
    which = f"step-{args.step}" if args.step is not None else args.checkpoint
    config, tokenizer, model = load_model(run, which, args.device)
    found = attention_map(model, tokenizer, args.prompt, config.data.is_pair_task)
    title = (
        f"{run.path.name} ({which} checkpoint): attention on {_joined(found.tokens, config)!r}; "
        f"next token {found.next_token!r} (p = {found.probability:.3f})"
    )
    out = plot_attention_grid(found.attentions, found.tokens, title, args.out or run.path / "attention.png")
    print(f"next token {found.next_token!r} with probability {found.probability:.4f}; attention grid: {out}")
    return 0


def _joined(tokens: list[str], config) -> str:
    return " ".join(tokens) if config.data.is_pair_task else "".join(tokens)


def _attention_over_training(args: argparse.Namespace, run) -> int:
    """The prompt's attention at up to --frames kept snapshots, evenly spaced, first and last included."""
    steps = run.snapshot_steps()
    if not steps:
        raise LmlabError(
            f"{run.path} kept no snapshots; train with --set train.snapshot_interval=K to keep the weights "
            "every K steps"
        )
    if args.frames < 1:
        raise LmlabError("--frames must be at least 1")
    picks = sorted({steps[round(i * (len(steps) - 1) / max(1, args.frames - 1))] for i in range(args.frames)})
    frames, found = [], None
    for step in picks:
        config, tokenizer, model = load_model(run, f"step-{step}", args.device)
        found = attention_map(model, tokenizer, args.prompt, config.data.is_pair_task)
        frames.append((f"step {step}: {found.next_token!r} {found.probability:.2f}", found.attentions))
        print(f"step {step}: next token {found.next_token!r} with probability {found.probability:.4f}")
    title = (
        f"{run.path.name}: attention on {_joined(found.tokens, config)!r} through training "
        "(row: step, next token, p)"
    )
    out = plot_attention_over_training(
        frames, found.tokens, title, args.out or run.path / "attention-over-training.png"
    )
    print(f"attention over training: {out}")
    return 0


def next_token(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise LmlabError("--top must be at least 1")
    config, tokenizer, model = load_model(open_run(args.run), args.checkpoint, args.device)
    ranked = next_tokens(model, tokenizer, args.prompt, config.data.is_pair_task, args.top)
    print(
        f"{args.run} ({args.checkpoint} checkpoint): the {len(ranked)} likeliest tokens after {args.prompt!r}"
    )
    print(f"{'rank':>4}  {'token':<16} {'id':>6}  {'probability':>11}")
    for rank, candidate in enumerate(ranked, start=1):
        print(f"{rank:>4}  {candidate.text!r:<16} {candidate.token_id:>6}  {candidate.probability:>11.4f}")
    print(f"      {'(these together)':<23}  {sum(c.probability for c in ranked):>11.4f}")
    return 0


def sweep(args: argparse.Namespace) -> int:
    spec = _sweep_spec(args)
    launcher = _launcher(args)
    if not args.report_only:
        n_runs = len(expand(spec))
        print(f"sweep of {n_runs} runs into {args.out}; logs in {args.out / 'runs'}/*/train.log", flush=True)

        def on_done(run, what: str) -> None:
            print(f"  {run.name}: {what}", flush=True)

        run_sweep(spec, args.out, launcher, data_dir=args.data_dir, on_done=on_done)
    check_same_sweep(spec, args.out, record_it=False)
    results = collect(spec, args.out)
    if not results:
        raise LmlabError(f"{args.out} has no finished runs of this sweep yet; run it without --report-only")
    paths = write_tables(spec, results, args.out)
    figures = plot_sweep(spec, results, args.out / "plots")
    print(paths[0].read_text(), end="")
    print(f"tables: {', '.join(str(p) for p in paths)}; plots: {args.out / 'plots'} ({len(figures)} figures)")
    return 0


def _launcher(args: argparse.Namespace) -> Launcher:
    if args.launcher == "ray":
        return RayLauncher(args.ray_address, args.cpus_per_run or 1, args.workers)
    if args.ray_address or args.cpus_per_run:
        raise LmlabError("--ray-address and --cpus-per-run need --launcher ray")
    return LocalLauncher(args.workers)


def _sweep_spec(args: argparse.Namespace) -> SweepSpec:
    """The recipe, with --grid keys replaced or added, --seeds, --set and --budget-fractions applied."""
    spec = load_recipe(args.recipe)
    grid = dict(spec.grid)
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise LmlabError(f"--grid {item!r} is not KEY=V1,V2,...; write e.g. --grid 'model.n_layer=1,2,3'")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return dataclasses.replace(
        spec,
        grid=grid,
        seeds=_numbers(args.seeds, int, "--seeds") if args.seeds else spec.seeds,
        overrides=(*spec.overrides, *args.overrides),
        budget_fractions=(
            _numbers(args.budget_fractions, float, "--budget-fractions")
            if args.budget_fractions
            else spec.budget_fractions
        ),
    )


def _numbers(text: str, kind: type, flag: str) -> tuple:
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise LmlabError(f"{flag} {text!r} must be comma-separated numbers, e.g. 0,42") from None


def _ngram_table_size(args: argparse.Namespace) -> int:
    """Free entries of full conditional probability tables (seed 000 question 1) beside a GPT's parameters."""
    if args.vocab is None or args.vocab < 2 or args.n < 1:
        raise LmlabError("give the vocabulary size and the order, e.g. `lmlab info ngram --vocab 65 --n 3`")
    config = load_preset(args.model)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=args.vocab))
    gpt = count_parameters(build_model(config.model)).total
    print(
        f"a table P(x_n | x_1 … x_(n-1)) over {args.vocab:,} tokens has |V|^(n-1)·(|V|-1) free entries "
        f"(each context's row sums to 1)"
    )
    print(f"{'n':>3}  {'entries':>32}  {'≈':>9}  {'entries / GPT parameters':>25}")
    for n in range(1, args.n + 1):
        entries = args.vocab ** (n - 1) * (args.vocab - 1)
        print(f"{n:>3}  {entries:>32,}  {entries:>9.2e}  {entries / gpt:>25.3g}")
    context = config.model.block_size
    exponent = (context - 1) * math.log10(args.vocab) + math.log10(args.vocab - 1)
    print(
        f"{args.model} with this vocabulary: {gpt:,} parameters for every n up to its context of "
        f"{context} tokens, where a table would need about 10^{exponent:.0f} entries"
    )
    return 0


def info(args: argparse.Namespace) -> int:
    if args.keys:
        print("\n".join(config_keys()))
        return 0
    if args.recipes:
        print("\n".join(recipe_names()))
        return 0
    if args.presets or not args.target:
        print("\n".join(preset_names()))
        return 0
    if args.target == "ngram":
        return _ngram_table_size(args)
    target = Path(args.target)
    if target.is_dir():
        config = apply_overrides(open_run(target).config(), args.overrides)
    else:
        config = apply_overrides(load_preset(args.target), args.overrides)
        config = dataclasses.replace(
            config, model=dataclasses.replace(config.model, vocab_size=known_vocab_size(config.data))
        )
    report = count_parameters(build_model(config.model))
    model = config.model
    print(
        f"{args.target}: {model.kind}, n_layer={model.n_layer}, n_head={model.n_head}, "
        f"n_embd={model.n_embd}, "
        f"block_size={model.block_size}, vocab_size={model.vocab_size}"
    )
    for component, count in report.by_component.items():
        note = " (embedding)" if component in report.embedding_components else ""
        print(f"  {component:<20} {count:>12,}{note}")
    for name, target_name in report.tied.items():
        print(f"  {name} is tied to {target_name}")
    print(f"  {'total':<20} {report.total:>12,}")
    print(f"  {'non-embedding':<20} {report.non_embedding:>12,}")
    return 0
