"""Train several configurations the same way and score them side by side (rows for a table).

An entry is a preset name, optionally with its own overrides: `shakespeare-char-cpu:model.norm=rmsnorm`
(several separated by commas). Overrides given for all entries apply first. Each run lives in
OUT/<entry>; a run that already finished is not trained again, so an interrupted comparison restarts
where it stopped.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmlab.config import RunConfig, apply_overrides, check_shared
from lmlab.data.batches import PairBatches
from lmlab.data.corpus import load_corpus
from lmlab.data.pairs import load_pair_task
from lmlab.evaluation.loss import estimate_loss
from lmlab.evaluation.text_scores import score_text_split
from lmlab.evaluation.translation import evaluate_translation
from lmlab.experiments.sweep import planned_steps
from lmlab.generation.decode import generate
from lmlab.inspect.prompt import start_text
from lmlab.models.params import count_parameters
from lmlab.presets import load_preset
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
    exact_match: float | None = None  # pair tasks: greedy decoding of the whole held-out split
    token_accuracy: float | None = None
    scored_split: str = ""  # pair tasks: that split, test (val for arithmetic, which has no test split)
    # the config keys whose values differ between the compared runs (e.g. "model.n_layer": 4)
    hyperparameters: dict[str, Any] = field(default_factory=dict)


def parse_entry(entry: str, base_overrides: list[str]) -> RunConfig:
    preset, _, extra = entry.partition(":")
    # overrides for all entries are not refused where one does not apply: entries may mix model families
    return apply_overrides(load_preset(preset), [item for item in extra.split(",") if item], base_overrides)


def entry_slug(entry: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", entry.replace(":", "__"))


def compare(
    entries: list[str],
    base_overrides: list[str],
    out_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
) -> list[ComparisonRow]:
    """Train (or reuse) each entry in out_dir/<entry_slug>, then score all on the whole validation split.

    lmlab.reports.comparison writes the rows out (results.md, results.json, loss.png).
    """
    configs = {entry: parse_entry(entry, base_overrides) for entry in entries}  # fail fast on a bad entry
    check_shared(list(configs.values()), base_overrides)
    rows = []
    for entry, config in configs.items():
        run_path = out_dir / entry_slug(entry)
        if not RunDir(run_path).is_finished(planned_steps(config)):
            resume = (run_path / "checkpoints" / "last").exists()
            train(config, run_path, data_dir=data_dir, resume=resume, progress=progress)
        rows.append(_score(entry, RunDir(run_path), data_dir))
    flat = [flatten_config(RunDir(out_dir / entry_slug(entry)).config()) for entry in configs]
    keys = differing_keys(flat)
    return [
        dataclasses.replace(row, hyperparameters={key: values.get(key) for key in keys})
        for row, values in zip(rows, flat, strict=True)
    ]


def flatten_config(config: RunConfig) -> dict[str, Any]:
    """{"model.n_layer": 2, "train.lr": 0.001, ...}: every key of the config (the preset name aside)."""
    return {
        f"{section}.{key}": value
        for section, values in config.to_dict().items()
        if isinstance(values, dict)
        for key, value in values.items()
    }


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The keys whose value is not the same in every config (a key one lacks counts as differing),
    in the order they first appear."""
    keys = list(dict.fromkeys(key for config in configs for key in config))
    missing = object()
    return [key for key in keys if len({repr(c.get(key, missing)) for c in configs}) > 1]


def _score(entry: str, run: RunDir, data_dir: Path | None) -> ComparisonRow:
    config, tokenizer, model = load_model(run, "best", "cpu")
    if config.data.is_pair_task:
        return _score_pairs(entry, run, config, tokenizer, model, data_dir)
    corpus = load_corpus(config.data, data_dir, tokenizer, config.model.block_size)
    score = score_text_split(model, tokenizer, corpus.val, config.model.block_size, 64, torch.device("cpu"))
    prompt = torch.tensor([tokenizer.encode(start_text(tokenizer))])
    ids = generate(model, prompt, 160, temperature=0.8, generator=torch.Generator().manual_seed(0))
    lines = [line for line in tokenizer.decode(ids[0, 1:].tolist()).splitlines() if line.strip()]
    return ComparisonRow(
        **_run_fields(entry, run, config, model),
        val_loss=round(score.loss, 4),
        sample=" / ".join(lines[:2]),
        tokenizer=f"{config.data.tokenizer} {tokenizer.vocab_size}",
        val_bits_per_char=round(score.bits_per_character, 4),
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
    """Pair tasks: whole-split val loss, and exact match of greedy decoding on the held-out split."""
    data = PairBatches(load_pair_task(config.data, data_dir, tokenizer), 256, config.model.block_size, 0)
    val_loss = estimate_loss(model, data.loss_batches("val", 0, 0), torch.device("cpu"))
    held_out = data.task.held_out
    report = evaluate_translation(model, tokenizer, data.task.split(held_out), held_out)
    last = run.metrics()[-1]
    epochs = last["epoch"]  # the trainer records passes over the training pairs
    return ComparisonRow(
        **_run_fields(entry, run, config, model),
        val_loss=round(val_loss, 4),
        sample="",
        epochs=round(epochs, 2),
        seconds_per_epoch=round(last["train_time"] / epochs, 2),
        exact_match=round(report.exact_match, 4),
        token_accuracy=round(report.token_accuracy, 4),
        scored_split=held_out,
    )
