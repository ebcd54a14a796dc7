"""The report of one run: what was trained, how it learned, how good each checkpoint is, what it
produces, and the resolved config.

Sections (each a LaTeX piece of the same name): summary, curves, samples (text models) or
predictions and scan_breakdown (pair tasks), attention (attention models), config. Figures are
written into `folder` as PNG and PDF; samples come from seeded generators, so a report repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlab.config import RunConfig
from lmlab.data.corpus import load_corpus
from lmlab.data.pairs import PairTask, load_pair_task
from lmlab.errors import LmlabError
from lmlab.experiments.summary import summarize_run
from lmlab.models.params import count_parameters
from lmlab.plots.curves import plot_loss_curves
from lmlab.reports import checkpoint_scores, model_outputs
from lmlab.reports.document import Figure, Item, Paragraph, Report, Section, Table, key_value_table
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.tokenizers import Tokenizer

ARITHMETIC_PROMPT = "3 + 5 ="  # an equation the attention grid reads (when p > 5)
ATTENTION_KINDS = ("gpt", "attention")  # the model kinds whose `inspect` returns attention weights
DEFAULT_TEMPERATURES = (0.5, 0.8, 1.0)
# what --temperature takes in a report, for the library's and the command line's refusals alike
TEMPERATURES_RULE = (
    "--temperature takes finite numbers > 0, comma-separated, for the report's samples "
    "(e.g. 1.5,1.0,0.1; 0.0001 is all but greedy)"
)


@dataclass(frozen=True)
class ReportOptions:
    checkpoint: str = "best"  # samples, predictions and attention come from this checkpoint
    data_dir: Path | None = None
    prompt: str | None = None  # None: the corpus's first line, or default_pair_prompt
    device: str = "cpu"  # cpu keeps seeded samples identical from machine to machine
    temperatures: tuple[float, ...] | None = None  # a sample at each; None: DEFAULT_TEMPERATURES
    seed: int = 0
    max_new_tokens: int = 200


def run_report(run: RunDir, folder: Path, options: ReportOptions) -> Report:
    """Every section of `run`'s report; figures are written into `folder`."""
    check_options(run, options)
    config, tokenizer, model = load_model(run, options.checkpoint, options.device)
    metrics = run.metrics()
    kept = checkpoint_scores.checkpoints(run, options.checkpoint)
    facts = _facts(run, config, tokenizer, model, metrics)
    if config.data.is_pair_task:
        task = load_pair_task(config.data, run.data_dir(options.data_dir), tokenizer)
        scores, reports = checkpoint_scores.pair_scores(run, task, kept, metrics, options.device)
        report = reports[next(c.step for c in kept if options.checkpoint in c.names)]
        heading = f"{task.held_out.capitalize()} predictions"
        outputs = [Section("predictions", heading, model_outputs.predictions(report))]
        if config.data.dataset == "scan":
            breakdown = model_outputs.scan_breakdown(report, folder)
            outputs.append(Section("scan_breakdown", "SCAN: exact match by length", breakdown))
        prompt = options.prompt or default_pair_prompt(config, task)
    else:
        corpus = load_corpus(config.data, run.data_dir(options.data_dir), tokenizer, config.model.block_size)
        scores = checkpoint_scores.text_scores(run, corpus, kept, metrics, options.device)
        prompt = options.prompt or corpus_first_line(tokenizer, corpus.split("train"))
        temperatures = options.temperatures or DEFAULT_TEMPERATURES
        items = model_outputs.samples(
            model, tokenizer, prompt, temperatures, options.seed, options.max_new_tokens
        )
        outputs = [Section("samples", "Samples", items)]
    sections = [
        Section("summary", "Summary", [facts, scores]),
        _curves(run, config, metrics, folder),
        *outputs,
    ]
    if config.model.kind in ATTENTION_KINDS:
        title = f"{run.path.name} ({options.checkpoint})"
        grid = model_outputs.attention(model, tokenizer, prompt, config.data.is_pair_task, title, folder)
        sections.append(Section("attention", "Attention", grid))
    sections.append(Section("config", "Configuration", config_tables(config)))
    subtitle = (
        f"{config.preset}: a {config.model.kind} model on {config.data.dataset}. Samples, predictions and "
        f"attention come from the {options.checkpoint} checkpoint of {run.path}."
    )
    return Report(f"lmlab report: {run.path.name}", subtitle, sections)


def check_options(run: RunDir, options: ReportOptions) -> None:
    """Refuse, before any work, temperatures a sample cannot take or a run that is not sampled."""
    if options.temperatures is None:
        return
    check_temperatures(options.temperatures)
    if run.config().data.is_pair_task:  # decoded greedily: every temperature would repeat one table
        raise LmlabError(
            "--temperature does not apply to a pair-task run: its report shows greedy test predictions, "
            "not samples; leave it out, or score sampled decoding with `lmlab eval RUN --temperature T`"
        )


def check_temperatures(temperatures: tuple[float, ...]) -> None:
    """Each a finite number > 0: 0 would be greedy decoding, not a sample (0.0001 is all but greedy)."""
    bad = next((t for t in temperatures if not (math.isfinite(t) and t > 0)), None)
    if bad is not None or not temperatures:
        raise LmlabError(f"{TEMPERATURES_RULE}, not {'nothing' if bad is None else f'{bad:g}'}")


def default_pair_prompt(config: RunConfig, task: PairTask) -> str:
    """Arithmetic: 3 + 5 = when the modulus has those numbers; otherwise the first test source."""
    if config.data.dataset == "arithmetic" and not task.tokenizer.unknown_words(ARITHMETIC_PROMPT):
        return ARITHMETIC_PROMPT
    return task.split(task.held_out)[0][0]


def corpus_first_line(tokenizer: Tokenizer, train_ids) -> str:
    """The corpus's first line (Tiny Shakespeare: "First Citizen:"), a prompt every tokenizer reads."""
    start = tokenizer.decode(train_ids[:256].tolist())
    return start.split("\n")[0][:60] or "\n"


def _facts(
    run: RunDir, config: RunConfig, tokenizer: Tokenizer, model, metrics: list[dict[str, Any]]
) -> Table:
    parameters = count_parameters(model)
    pairs = [
        ("preset", config.preset),
        ("model", model_text(config)),
        ("vocabulary", f"{tokenizer.vocab_size:,} tokens ({config.data.tokenizer})"),
        ("parameters", f"{parameters.total:,} ({parameters.non_embedding:,} non-embedding)"),
    ]
    if metrics:
        last = metrics[-1]
        pairs += [
            ("steps", f"{last['step']:,} of {config.train.max_steps:,}"),
            ("tokens seen", f"{last['tokens']:,}" if "tokens" in last else "–"),
            ("wall time", duration(last.get("time"))),
            ("training time (no evaluations)", duration(last.get("train_time"))),
        ]
        pairs += best_of_curves(metrics)
    return key_value_table(f"Run {run.path.name}.", pairs, ("quantity", "value"))


def best_of_curves(metrics: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The lowest val loss and highest val accuracy the training curve recorded, and their steps."""
    summary = summarize_run(metrics)
    pairs = [("lowest val loss (estimate)", f"{summary['L_val']:.4f} at step {summary['tf_L_val']:,}")]
    if "A_val" in summary:
        pairs.append(("highest val accuracy", f"{summary['A_val']:.2%} at step {summary['tf_A_val']:,}"))
    return pairs


def model_text(config: RunConfig) -> str:
    m = config.model
    return f"{m.kind}, n_layer={m.n_layer}, n_head={m.n_head}, n_embd={m.n_embd}, block_size={m.block_size}"


def duration(seconds: float | None) -> str:
    if seconds is None:  # a run from before lmlab recorded times
        return "–"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _curves(run: RunDir, config: RunConfig, metrics: list[dict[str, Any]], folder: Path) -> Section:
    if not metrics:
        return Section("curves", "Training curves", [Paragraph("The run recorded no evaluations yet.")])
    png, pdf = folder / "curves.png", folder / "curves.pdf"
    for path in (png, pdf):
        plot_loss_curves({run.path.name: metrics}, path)
    with_accuracy = any("val_acc" in r for r in metrics)
    caption = (
        "Train (dashed) and validation (solid) loss in nats per token"
        + (", and accuracy (every target token right)" if with_accuracy else "")
        + f", estimated every {config.train.eval_interval:,} steps on a few random batches."
    )
    return Section("curves", "Training curves", [Figure(caption, png, pdf)])


def config_tables(config: RunConfig) -> list[Item]:
    """The resolved config, one table per section, keys as `--set` takes them."""
    tables: list[Item] = []
    for section, values in config.to_dict().items():
        if not isinstance(values, dict):
            continue
        pairs = [(f"{section}.{key}", _value_text(value)) for key, value in values.items()]
        tables.append(key_value_table(f"Resolved configuration: {section}.", pairs, ("key", "value")))
    return tables


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return '""' if value == "" else str(value)
