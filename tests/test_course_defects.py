"""Regression tests for defects the course assignments ran into: each test fails on the old behaviour."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import pytest
import torch

from lmlab.cli.main import main
from lmlab.config import ModelConfig, apply_overrides
from lmlab.data import scan
from lmlab.data.download import cache_dir, sha256_of
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.inspect.attention import attention_map
from lmlab.inspect.next_token import next_tokens
from lmlab.models import build_model
from lmlab.plots.attention import attention_grid_figure
from lmlab.presets import load_preset
from lmlab.reports import ReportOptions, write_report
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.tokenizers import fit_bpe
from lmlab.tokenizers.labels import visible_token
from lmlab.training.schedule import lr_at

from .conftest import SHARED_DATA, tiny_config

# keys every preset below reads; the sizes go per entry (a SCAN model needs a longer window)
FAST = ["train.batch_size=4", "train.max_steps=2", "train.warmup_steps=1", "train.eval_interval=2",
        "train.eval_steps=1", "train.log_interval=1", "train.device=cpu"]  # fmt: skip
SMALL_SCAN = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", *FAST]
ARITH = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "data.p=5", *FAST]


def _flags(overrides: list[str]) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


@pytest.fixture
def text_run(tmp_path):
    path = tmp_path / "text"
    train(tiny_config(), path, progress=False)  # block_size 16
    return path


# 1. a comparison of a text preset and a SCAN preset


def test_compare_tabulates_a_text_run_beside_a_scan_run(tmp_path, capsys):
    entries = [
        "shakespeare-char-cpu:model.n_layer=1,model.n_embd=16,model.block_size=16",
        "scan-simple:model.n_layer=1,model.n_embd=16",
    ]
    args = ["compare", *entries, *_flags(FAST), "--out", str(tmp_path / "cmp"), "--quiet"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = (tmp_path / "cmp" / "results.md").read_text().splitlines()
    header = lines[0]
    assert "val bits/char" in header and "test exact match" in header and "epochs" in header
    text_row, scan_row = lines[2], lines[3]
    assert text_row.count("–") == 4  # epochs, s/epoch, exact match, token accuracy
    assert scan_row.count("–") == 3  # tokenizer, bits/char, sample
    assert len({line.count("|") for line in lines}) == 1  # every row has every column
    rows = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert rows[0]["exact_match"] is None and rows[1]["scored_split"] == "test"


# 2. a prompt longer than the window is cropped, with a note, everywhere


def test_long_prompts_keep_their_last_block_size_tokens(text_run, tmp_path, caplog, capsys):
    long = "First Citizen: " * 4  # 60 characters, a 16-token window
    config, model, tokenizer = _loaded(text_run)
    with caplog.at_level(logging.WARNING):
        found = attention_map(model, tokenizer, long, False)
    assert len(found.tokens) == 16 and found.text == long[-16:]
    assert "60 tokens but the model reads at most 16" in caplog.text
    cropped = next_tokens(model, tokenizer, long[-16:], False, 3)
    assert next_tokens(model, tokenizer, long, False, 3) == cropped
    for command in (["sample", "--max-new-tokens", "5"], ["next"], ["attention"]):
        assert main([command[0], str(text_run), "--prompt", long, *command[1:]]) == 0
        assert "using its last 16" in capsys.readouterr().err
    options = ReportOptions(data_dir=SHARED_DATA, prompt=long, max_new_tokens=5, temperatures=(1.0,))
    assert write_report(text_run, tmp_path / "report", options).html.is_file()


def _loaded(run):
    config, tokenizer, model = load_model(RunDir(run))
    return config, model, tokenizer


# 3. attention-only models show their attention


def test_attention_only_models_can_be_inspected_and_drawn(tmp_path, capsys):
    run = tmp_path / "attention"
    train(tiny_config("model.kind=attention"), run, progress=False)
    _, model, tokenizer = _loaded(run)
    idx = torch.randint(tokenizer.vocab_size, (2, 7))
    seen = model.inspect(idx)
    torch.testing.assert_close(seen.logits, model(idx))
    assert seen.hidden_states.shape == (2, 1, 7, 32) and seen.attentions.shape == (2, 1, 2, 7, 7)
    torch.testing.assert_close(seen.attentions, model.attention_weights(idx))
    torch.testing.assert_close(seen.attentions.sum(-1), torch.ones(2, 1, 2, 7))
    assert main(["attention", str(run), "--prompt", "ROMEO:"]) == 0
    assert "next token" in capsys.readouterr().out
    assert (run / "attention.png").read_bytes()[:4] == b"\x89PNG"


# 4. `lmlab info` prints only the sizes a family reads


@pytest.mark.parametrize(
    ("preset", "shown", "hidden"),
    [
        ("shakespeare-bigram", ["block_size"], ["n_head", "n_layer", "n_embd"]),
        ("shakespeare-lstm", ["n_layer", "n_embd", "hidden_size"], ["n_head"]),
        ("shakespeare-char-cpu", ["n_layer", "n_head", "n_embd"], ["hidden_size"]),
    ],
)
def test_info_header_shows_only_what_the_family_reads(preset, shown, hidden, capsys):
    assert main(["info", preset]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert all(f"{key}=" in header for key in shown)
    assert not any(f"{key}=" in header for key in hidden)


# 5. SCAN: a generated split says so; data.source=official fetches and verifies


def test_a_generated_scan_split_warns_in_training_and_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LMLAB_DATA_DIR")  # no local copy of the official files
    run = tmp_path / "scan"
    args = ["train", "scan-simple", *_flags(SMALL_SCAN), "--out", str(run), "--quiet"]
    assert main(args) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "NOT the official split" in line]
    assert len(warnings) == 1 and "data.source=official" in warnings[0]
    assert main(["eval", str(run), "--splits", "val"]) == 0
    assert "WARNING: SCAN simple is a seeded 80/20 split" in capsys.readouterr().out
    official = load_pair_task(load_preset("scan-simple").data, SHARED_DATA)
    assert official.source == "official" and official.warning == ""


def test_official_scan_files_are_fetched_into_the_cache_and_verified(tmp_path, monkeypatch):
    monkeypatch.delenv("LMLAB_DATA_DIR")
    mirror = tmp_path / "mirror"  # laid out as the brendenlake/SCAN repository
    (mirror / "simple_split").mkdir(parents=True)
    for part in ("train", "test"):
        shutil.copy(SHARED_DATA / "scan" / f"tasks_{part}_simple.txt", mirror / "simple_split")
    monkeypatch.setattr(scan, "_OFFICIAL_BASE", mirror.as_uri() + "/")
    empty = tmp_path / "empty"  # a data directory without them: fetched all the same
    empty.mkdir()
    train_pairs, test_pairs, origin = scan.load_split("simple", "official", empty)
    assert (len(train_pairs), len(test_pairs), origin) == (16_728, 4_182, "official files")
    cached = cache_dir() / "scan" / "tasks_train_simple.txt"
    assert sha256_of(cached) == scan.official_file("tasks_train_simple.txt").sha256
    cached.write_text("IN: walk OUT: I_WALK\n")  # damaged: refused, not used
    with pytest.raises(LmlabError, match="SHA-256"):
        scan.load_split("simple", "official")
    cached.unlink()
    (mirror / "simple_split" / "tasks_train_simple.txt").write_text("IN: walk OUT: I_WALK\n")
    with pytest.raises(LmlabError, match="SHA-256"):  # a tampered download is refused too
        scan.load_split("simple", "official")
    assert not cached.exists()


# 6. arithmetic has train and val; its held-out equations are val


def test_arithmetic_scores_its_val_split_and_never_calls_it_test(tmp_path, capsys):
    config = apply_overrides(load_preset("arith-gpt"), ARITH)
    task = load_pair_task(config.data)
    assert task.held_out == "val" and task.test == []
    with pytest.raises(LmlabError, match="use val"):
        task.split("test")
    train(config, tmp_path / "run", progress=False)
    assert main(["eval", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out.replace(str(tmp_path), "RUN")  # the folder's name has "test" in it
    assert "val: 13 pairs" in out and "test" not in out
    assert (tmp_path / "run" / "eval" / "val-greedy").is_dir()
    assert main(["eval", str(tmp_path / "run"), "--splits", "test"]) == 0
    assert "no test split; its held-out pairs are val" in capsys.readouterr().out


# 7. a shortened grokking run: the cool-down follows the run length


def test_grokking_shortens_with_its_cool_down():
    preset = load_preset("grokking")
    short = apply_overrides(preset, ["train.max_steps=30"])
    assert short.train.cooldown_length == 9  # 30% of the run, as 1,500 of 5,000
    old = dataclasses.replace(preset.train, cooldown_fraction=0.0, cooldown_steps=1500)
    assert [lr_at(s, preset.train) for s in range(0, 5001, 7)] == [lr_at(s, old) for s in range(0, 5001, 7)]
    assert lr_at(29, short.train) == pytest.approx(short.train.min_lr)
    with pytest.raises(LmlabError, match="not both"):
        apply_overrides(preset, ["train.cooldown_steps=100"])


# 8. BPE labels show where words start


def test_attention_labels_show_a_tokens_leading_space():
    assert [visible_token(t) for t in (" the", "\n", " ", "the", "")] == ["␣the", "\\n", "␣", "the", "''"]
    assert visible_token(visible_token(" the\n")) == "␣the\\n"
    tokenizer = fit_bpe("the cat and the hat and the bat " * 20, 270)
    model = build_model(ModelConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2,
                                    n_embd=16, dropout=0.0))  # fmt: skip
    found = attention_map(model, tokenizer, "the cat and the hat", False)
    assert "␣the" in found.tokens and not any(t.startswith(" ") for t in found.tokens)
    assert found.text == "the cat and the hat"
    figure = attention_grid_figure(found.attentions, found.tokens, "t")
    assert "␣the" in [label.get_text() for label in figure.axes[0].get_xticklabels()]
