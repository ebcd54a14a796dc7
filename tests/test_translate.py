"""Decoding and scoring for pair tasks (SCAN), on a small model trained for a few seconds."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data.batches import PairBatches
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.translation import Example, TranslationReport, evaluate_translation
from lmlab.generation.translate import _beam, _greedy, check_words, translate
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, train_on_clauses

SMALL_SCAN = [
    "model.n_layer=2",
    "model.n_head=2",
    "model.n_embd=32",
    "model.segment_embeddings=true",
    "train.batch_size=32",
    "train.max_steps=300",
    "train.lr=0.004",
    "train.warmup_steps=20",
    "train.eval_interval=150",
    "train.eval_steps=2",
    "train.device=cpu",
]


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory):
    """A small GPT trained on SCAN's 102 one-clause commands (no 'and', no 'after'): it learns them."""
    folder = tmp_path_factory.mktemp("scan")
    return train_on_clauses(folder, SMALL_SCAN)


@pytest.fixture(scope="module")
def loaded(scan_run):
    config, tokenizer, model = load_model(RunDir(scan_run), "best", "cpu")
    task = load_pair_task(config.data, SHARED_DATA, tokenizer)
    return config, tokenizer, model, task


def _reference_greedy(model, tokenizer, source: str, limit: int = 60) -> str:
    """One command at a time, no cache: the whole sequence is re-read for every new token."""
    ids = [tokenizer.bos_id, *tokenizer.encode(source)]
    n_source = len(ids)
    out = []
    with torch.inference_mode():
        while len(ids) < limit:
            segments = torch.tensor([[0] * n_source + [1] * (len(ids) - n_source)])
            next_id = int(model(torch.tensor([ids]), segments=segments)[0, -1].argmax())
            if next_id == tokenizer.eos_id:
                break
            ids.append(next_id)
            out.append(next_id)
    return tokenizer.decode(out)


def _log_prob(model, tokenizer, source: str, target: str) -> float:
    ids = [tokenizer.bos_id, *tokenizer.encode(source), *tokenizer.encode(target), tokenizer.eos_id]
    n_source = len(tokenizer.encode(source)) + 1
    segments = torch.tensor([[0] * n_source + [1] * (len(ids) - 1 - n_source)])
    with torch.inference_mode():
        logits = model(torch.tensor([ids[:-1]]), segments=segments)[0]
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return sum(float(log_probs[j, ids[j + 1]]) for j in range(n_source - 1, len(ids) - 1))


def test_the_small_model_learns_its_commands(loaded):
    _, tokenizer, model, task = loaded
    report = evaluate_translation(model, tokenizer, task.train, "train")
    assert len(task.train) == 92 and report.exact_match >= 0.9


def test_batched_cached_greedy_equals_one_at_a_time_uncached(loaded):
    _, tokenizer, model, task = loaded
    sources = [s for s, _ in [*task.train, *task.val]]
    batched = translate(model, tokenizer, sources, batch_size=16)
    assert batched == [_reference_greedy(model, tokenizer, s) for s in sources]


def test_rows_stop_at_their_own_end(loaded):
    _, tokenizer, model, _ = loaded
    sources = ["walk", "jump around left thrice"]
    short, long = translate(model, tokenizer, sources)
    assert len(short.split()) < len(long.split())
    assert "</s>" not in short and "<pad>" not in short


def test_beam_search_scores_at_least_as_high_as_greedy(loaded):
    _, tokenizer, model, task = loaded
    sources = [s for s, _ in [*task.train, *task.val]]
    greedy = translate(model, tokenizer, sources)
    beam = translate(model, tokenizer, sources, beam_width=4, batch_size=64)
    for source, g, b in zip(sources, greedy, beam, strict=True):
        assert _log_prob(model, tokenizer, source, b) >= _log_prob(model, tokenizer, source, g) - 1e-4


def test_beam_of_width_one_is_greedy(loaded):
    _, tokenizer, model, _ = loaded
    prompt = torch.tensor([[tokenizer.bos_id, *tokenizer.encode(s)] for s in ["run twice", "look left"]])
    with torch.inference_mode():
        assert _beam(model, prompt, tokenizer.eos_id, tokenizer.pad_id, 1, 50) == _greedy(
            model, prompt, tokenizer.eos_id, 50
        )


def test_unknown_words_are_named_not_read_as_unk(loaded):
    _, tokenizer, _, _ = loaded
    with pytest.raises(LmlabError, match="'fly'.*'swim'"):
        check_words(tokenizer, "fly twice and swim")
    check_words(tokenizer, "jump twice")


def test_scores_count_whole_sequences_and_positions():
    report = TranslationReport(
        "test",
        "greedy",
        [
            Example("walk twice", "I_WALK I_WALK", "I_WALK I_WALK"),
            Example("walk thrice", "I_WALK I_WALK I_WALK", "I_WALK I_WALK"),  # one short
            Example("run", "I_RUN", "I_RUN I_RUN"),  # one extra
        ],
        seconds=0.0,
    )
    assert report.exact_match == pytest.approx(1 / 3)
    assert report.token_accuracy == pytest.approx((2 + 2 + 1) / (2 + 3 + 2))
    by_target = {b.length: (b.count, b.correct) for b in report.by_length("target")}
    assert by_target == {1: (1, 0), 2: (1, 1), 3: (1, 0)}
    by_source = {b.length: (b.count, b.correct) for b in report.by_length("source")}
    assert by_source == {1: (1, 0), 2: (2, 1)}


def test_cli_eval_writes_the_report_and_sample_prints_actions(scan_run, capsys):
    assert main(["eval", str(scan_run), "--splits", "train,val"]) == 0
    printed = capsys.readouterr().out
    assert "exact match" in printed and "token accuracy" in printed
    out_dir = scan_run / "eval" / "train-greedy"
    assert (scan_run / "eval" / "val-greedy" / "results.json").exists()
    results = json.loads((out_dir / "results.json").read_text())
    assert results["pairs"] == 92
    wrong = (out_dir / "wrong_predictions.tsv").read_text().splitlines()
    assert wrong[0].startswith("command\texpected\tpredicted")
    assert len(wrong) - 1 == round((1 - results["exact_match"]) * results["pairs"])
    assert (out_dir / "breakdown.png").read_bytes()[:4] == b"\x89PNG"
    assert sum(b["count"] for b in results["by_action_length"]) == 92
    assert main(["sample", str(scan_run), "--prompt", "walk"]) == 0
    assert capsys.readouterr().out.strip().split()[-1].startswith("I_")
    assert main(["sample", str(scan_run), "--prompt", "walk and fly"]) == 2
    assert "'fly'" in capsys.readouterr().err


def test_cli_train_prints_vocabulary_and_lengths(tmp_path, capsys):
    overrides = [f"--set={o}" for o in [*SMALL_SCAN[:4], "train.max_steps=2", "train.eval_steps=1"]]
    assert main(["train", "scan-simple", "--quiet", "--out", str(tmp_path / "r"), *overrides]) == 0
    log = capsys.readouterr().err
    assert "vocabulary (23 tokens): <pad> <s> </s> <unk>" in log
    assert "longest command 9 words, longest action sequence 48" in log


def test_block_size_too_small_for_scan_is_refused(tmp_path):
    config = apply_overrides(load_preset("scan-simple"), ["model.block_size=40", "train.device=cpu"])
    with pytest.raises(LmlabError, match="needs 58 positions"):
        train(config, tmp_path / "r", progress=False)


def test_the_run_records_which_simple_split_auto_found(tmp_path, monkeypatch):
    overrides = [*SMALL_SCAN[:4], "train.max_steps=1", "train.eval_steps=1", "train.device=cpu"]
    config = apply_overrides(load_preset("scan-simple"), overrides)
    train(config, tmp_path / "official", data_dir=SHARED_DATA, progress=False)
    assert RunDir(tmp_path / "official").config().data.source == "official"
    monkeypatch.delenv("LMLAB_DATA_DIR")
    train(config, tmp_path / "generated", progress=False)
    assert RunDir(tmp_path / "generated").config().data.source == "generated"


def test_resume_continues_the_pair_order_exactly(tmp_path):
    overrides = [*SMALL_SCAN[:4], "train.batch_size=8", "train.max_steps=12", "train.eval_interval=4"]
    overrides += ["train.eval_steps=1", "train.device=cpu"]
    config = apply_overrides(load_preset("scan-simple"), overrides)
    train(config, tmp_path / "straight", data_dir=SHARED_DATA, progress=False)
    train(config, tmp_path / "resumed", data_dir=SHARED_DATA, stop_after_step=5, progress=False)
    train(config, tmp_path / "resumed", data_dir=SHARED_DATA, resume=True, progress=False)
    straight, resumed = RunDir(tmp_path / "straight").metrics(), RunDir(tmp_path / "resumed").metrics()
    assert [r["val_loss"] for r in straight] == [r["val_loss"] for r in resumed]
    assert [r["tokens"] for r in straight] == [r["tokens"] for r in resumed]


def test_pair_batches_cover_every_training_pair_once_per_epoch(loaded):
    _, _, _, task = loaded
    batches = PairBatches(task, batch_size=4, block_size=64, seed=5)
    n = batches.epoch_size
    first, second = batches.order.items(0, n).tolist(), batches.order.items(n, n).tolist()
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert first != second  # reshuffled each epoch
    again = PairBatches(task, batch_size=4, block_size=64, seed=5)
    generator = torch.Generator()
    assert torch.equal(again.train_batch(3, generator).inputs, batches.train_batch(3, generator).inputs)


def test_cli_trains_on_any_pair_files(tmp_path, capsys):
    train_file = tmp_path / "train.txt"
    train_file.write_text("".join(f"IN: walk {w} OUT: I_WALK I_{w.upper()}\n" for w in "abcdefghij"))
    test_file = tmp_path / "test.txt"
    test_file.write_text("IN: walk a OUT: I_WALK I_A\n")
    settings = ["--set=train.max_steps=2", "--set=train.eval_steps=1", "--set=train.device=cpu"]
    out = tmp_path / "run"
    args = ["train", "scan-simple", "--quiet", "--out", str(out), "--train-file", str(train_file)]
    assert main([*args, "--test-file", str(test_file), *settings]) == 0
    assert RunDir(out).config().data.train_file == str(train_file.resolve())
    assert "train.txt" in capsys.readouterr().err
    assert main(["eval", str(out)]) == 0
    assert "test: 1 pairs" in capsys.readouterr().out
    assert main(["train", "scan-simple", "--out", str(tmp_path / "x"), "--train-file", "nope.txt"]) == 2
    assert "nope.txt is not a file" in capsys.readouterr().err
