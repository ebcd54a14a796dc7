"""Train several configurations the same way and tabulate them side by side.

An entry is a preset name, optionally with its own overrides: `shakespeare-char-cpu:model.norm=rmsnorm`
(several separated by commas). Overrides given for all entries apply first. Each run lives in
OUT/<entry>; a run that already finished is not trained again, so an interrupted comparison restarts
where it stopped.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lmlab.config import RunConfig, apply_overrides
from lmlab.data.batches import PairBatches
from lmlab.data.corpus import load_corpus
from lmlab.data.pairs import load_pair_task
from lmlab.evaluation.loss import estimate_loss, evaluate_split
from lmlab.evaluation.translation import evaluate_translation
from lmlab.generation.decode import generate
from lmlab.models.params import count_parameters
from lmlab.plots.curves import plot_loss_curves
from lmlab.presets import load_preset
from lmlab.runs.checkpoint import load_state
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train


@dataclass(frozen=True)
class ComparisonRow:
    entry: str
    kind: str
    parameters: int
    non_embedding: int
    steps: int
    tokens: int
    seconds: float  # training time: evaluations and checkpoints excluded
    val_loss: float  # whole validation split, best checkpoint, nats per token
    sample: str  # text: the first two non-empty lines of a sample at temperature 0.8
    tokenizer: str = ""  # e.g. "char 65", "bpe 500"
    val_bits_per_char: float | None = None  # text: comparable across tokenizers
    epochs: float | None = None  # pair tasks: passes over the training pairs
    seconds_per_epoch: float | None = None
    test_exact_match: float | None = None  # pair tasks: greedy decoding of the whole test split
    test_token_accuracy: float | None = None


def parse_entry(entry: str, base_overrides: list[str]) -> RunConfig:
    preset, _, extra = entry.partition(":")
    overrides = [*base_overrides, *[item for item in extra.split(",") if item]]
    return apply_overrides(load_preset(preset), overrides)


def entry_slug(entry: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", entry.replace(":", "__"))


def compare(
    entries: list[str],
    base_overrides: list[str],
    out_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
) -> list[ComparisonRow]:
    """Train (or reuse) each entry, then score all on the whole validation split."""
    configs = {entry: parse_entry(entry, base_overrides) for entry in entries}  # fail fast on a bad entry
    rows = []
    for entry, config in configs.items():
        run_path = out_dir / entry_slug(entry)
        if not _finished(run_path, config.train.max_steps):
            resume = (run_path / "checkpoints" / "last").exists()
            train(config, run_path, data_dir=data_dir, resume=resume, progress=progress)
        rows.append(_score(entry, RunDir(run_path), data_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    (out_dir / "results.md").write_text(to_markdown(rows))
    plot_loss_curves(
        {r.entry: RunDir(out_dir / entry_slug(r.entry)).metrics() for r in rows}, out_dir / "loss.png"
    )
    return rows


def _finished(run_path: Path, max_steps: int) -> bool:
    last = run_path / "checkpoints" / "last"
    return last.exists() and load_state(last)["step"] >= max_steps


def _score(entry: str, run: RunDir, data_dir: Path | None) -> ComparisonRow:
    config, tokenizer, model = load_model(run, "best", "cpu")
    if config.data.is_pair_task:
        return _score_pairs(entry, run, config, tokenizer, model, data_dir)
    corpus = load_corpus(config.data, data_dir, tokenizer)
    score = evaluate_split(model, corpus.val, config.model.block_size, 64, torch.device("cpu"))
    characters = len(tokenizer.decode(corpus.val[1:].tolist()))
    prompt = torch.tensor([tokenizer.encode("\n")])
    ids = generate(model, prompt, 160, temperature=0.8, generator=torch.Generator().manual_seed(0))
    lines = [line for line in tokenizer.decode(ids[0, 1:].tolist()).splitlines() if line.strip()]
    return ComparisonRow(
        **_run_fields(entry, run, config, model),
        val_loss=round(score.loss, 4),
        sample=" / ".join(lines[:2]),
        tokenizer=f"{config.data.tokenizer} {tokenizer.vocab_size}",
        val_bits_per_char=round(score.bits_per_character(characters), 4),
    )


def _run_fields(entry: str, run: RunDir, config, model) -> dict:
    """What every row reports of its run: size, steps, tokens and training time."""
    report = count_parameters(model)
    last = run.metrics()[-1]
    return {
        "entry": entry,
        "kind": config.model.kind,
        "parameters": report.total,
        "non_embedding": report.non_embedding,
        "steps": last["step"],
        "tokens": last["tokens"],
        "seconds": round(last["train_time"], 1),
    }


def _score_pairs(entry: str, run: RunDir, config, tokenizer, model, data_dir: Path | None) -> ComparisonRow:
    """Pair tasks: whole-split val loss, and exact match of greedy decoding on the test split."""
    data = PairBatches(load_pair_task(config.data, data_dir, tokenizer), 256, config.model.block_size, 0)
    segments = config.model.segment_embeddings
    cpu = torch.device("cpu")
    val_loss = estimate_loss(model, data.loss_batches("val", 0, 0), cpu, use_segments=segments)
    report = evaluate_translation(model, tokenizer, data.task.test, "test")
    last = run.metrics()[-1]
    epochs = last["epoch"]  # the trainer records passes over the training pairs
    return ComparisonRow(
        **_run_fields(entry, run, config, model),
        val_loss=round(val_loss, 4),
        sample="",
        epochs=round(epochs, 2),
        seconds_per_epoch=round(last["train_time"] / epochs, 2),
        test_exact_match=round(report.exact_match, 4),
        test_token_accuracy=round(report.token_accuracy, 4),
    )


def to_markdown(rows: list[ComparisonRow]) -> str:
    """A Markdown table, the lowest val bits per character (or the best exact match) in bold.

    Text runs report val loss per token and bits per character; only the latter compares runs with
    different tokenizers.
    """
    if all(r.test_exact_match is not None for r in rows):
        return _pairs_markdown(rows)
    best = min(r.val_bits_per_char for r in rows)
    lines = [
        "| run | kind | tokenizer | parameters | steps | seconds | val loss/token | val bits/char "
        "| sample (temperature 0.8, two lines) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        bits = f"{r.val_bits_per_char:.4f}"
        bits = f"**{bits}**" if r.val_bits_per_char == best else bits
        sample = r.sample.replace("|", "\\|")
        lines.append(
            f"| `{r.entry}` | {r.kind} | {r.tokenizer} | {r.parameters:,} | {r.steps} | {r.seconds:.1f} "
            f"| {r.val_loss:.4f} | {bits} | {sample} |"
        )
    return "\n".join(lines) + "\n"


def _pairs_markdown(rows: list[ComparisonRow]) -> str:
    best_loss = min(r.val_loss for r in rows)
    best_match = max(r.test_exact_match for r in rows)
    lines = [
        "| run | parameters | steps | epochs | s/epoch | val loss | test exact match | test token accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        loss = f"**{r.val_loss:.4f}**" if r.val_loss == best_loss else f"{r.val_loss:.4f}"
        match = f"{100 * r.test_exact_match:.2f}%"
        match = f"**{match}**" if r.test_exact_match == best_match else match
        lines.append(
            f"| `{r.entry}` | {r.parameters:,} | {r.steps} | {r.epochs:g} | {r.seconds_per_epoch:.1f} "
            f"| {loss} | {match} | {100 * r.test_token_accuracy:.2f}% |"
        )
    return "\n".join(lines) + "\n"
