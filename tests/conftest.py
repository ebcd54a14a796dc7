"""Tests read ../shared/data beside the repository and never touch the network."""

from __future__ import annotations

import dataclasses
import os
import urllib.request
from pathlib import Path

import pytest

from lmlab.config import RunConfig, apply_overrides
from lmlab.presets import load_preset

# the data sets the tests read: ../shared/data beside the clone, or $LMLAB_TEST_DATA (README: Install)
SHARED_DATA = Path(
    os.environ.get("LMLAB_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()
NEEDED = ("tinyshakespeare/input.txt", "scan/tasks_train_simple.txt", "scan/tasks_test_simple.txt")


def pytest_configure(config):
    missing = [name for name in NEEDED if not (SHARED_DATA / name).is_file()]
    if missing:
        raise pytest.UsageError(
            f"the tests read data sets from {SHARED_DATA} and {missing[0]} is not there; put the data folder "
            "beside the clone as ../shared/data (README: Install and test) or set LMLAB_TEST_DATA=FOLDER"
        )


TINY = [
    "model.n_layer=2",
    "model.n_head=2",
    "model.n_embd=32",
    "model.block_size=16",
    "model.dropout=0.0",
    "train.batch_size=4",
    "train.max_steps=8",
    "train.warmup_steps=2",
    "train.eval_interval=4",
    "train.eval_steps=2",
    "train.log_interval=2",
    "train.device=cpu",
    "train.optimizer=adamw",  # the tests' plain baseline, whatever shakespeare-char-cpu's optimizer is
    # and a cosine schedule, whatever shakespeare-char-cpu's is
    "train.lr_decay=cosine",
    "train.cooldown_fraction=0",
    "train.min_lr=0.0002",
]


@pytest.fixture(autouse=True)
def offline_data(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("LMLAB_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("LMLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))

    def no_network(url, *args, **kwargs):
        target = url if isinstance(url, str) else url.full_url
        if not target.startswith("file:"):
            raise AssertionError(f"a test tried to reach the network: {target}")
        return real_urlopen(url, *args, **kwargs)

    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def tiny_config(*extra: str) -> RunConfig:
    """A two-layer, 32-wide character GPT that trains in about a second; with `model.kind=...` among
    `extra`, that family with TINY's sizes where it reads them (TINY is shared, so never refused)."""
    return apply_overrides(load_preset("shakespeare-char-cpu"), list(extra), shared=TINY)


def with_vocab(config: RunConfig, vocab_size: int = 65) -> RunConfig:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, vocab_size=vocab_size))


def one_clause_file(folder: Path, limit: int | None = None) -> Path:
    """SCAN's one-clause commands (no 'and', no 'after': 102 of them, or the first `limit`) as a train
    file of 'IN: ... OUT: ...' lines in `folder`: a pair task small enough for a test to learn."""
    from lmlab.data.scan import generate_commands

    clauses = [(c, a) for c, a in generate_commands() if " and " not in c and " after " not in c][:limit]
    path = folder / "clauses.txt"
    path.write_text("".join(f"IN: {c} OUT: {a}\n" for c, a in clauses))
    return path


def train_on_clauses(folder: Path, settings: list[str], limit: int | None = None) -> Path:
    """`scan-simple` with `settings`, trained on SCAN's one-clause commands (the first `limit`) in
    `folder`; returns the run folder."""
    from lmlab.runs.trainer import train

    train_file = one_clause_file(folder, limit)
    config = apply_overrides(load_preset("scan-simple"), [*settings, f"data.train_file={train_file}"])
    train(config, folder / "run", progress=False)
    return folder / "run"
