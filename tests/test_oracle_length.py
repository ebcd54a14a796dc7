"""The end-of-sequence decision, measured (SCAN, Lake & Baroni 2018): `--oracle-length` holds every
prediction to its reference's length, and the wrong predictions are sorted by kind of error."""

from __future__ import annotations

import json

import pytest
import torch

import lmlab
from lmlab.cli.main import main
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.translation import (
    STOPPED_EARLY,
    WENT_ON,
    WRONG_ACTION,
    Example,
    TranslationReport,
    error_kind,
    evaluate_translation,
)
from lmlab.generation.translate import oracle_logits, translate
from lmlab.models.base import LanguageModel
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.tokenizers.word import WordTokenizer

from .conftest import SHARED_DATA, tiny_config, train_on_clauses

ACTIONS = ["I_WALK", "I_JUMP", "I_RUN"]
TOKENIZER = WordTokenizer(["walk", "jump", "twice", *ACTIONS])


class Scripted(LanguageModel):
    """A hand-made model: after a sequence of T tokens it ranks `</s>` at `eos_logit`, then
    ACTIONS[T % 2] at 40, every other token at 0. No cache: the decoder re-reads the whole sequence."""

    def __init__(self, eos_logit: float) -> None:
        super().__init__()
        self.eos_logit = eos_logit
        self.weight = torch.nn.Parameter(torch.zeros(1))  # only so that the decoder finds a device

    @property
    def context_size(self) -> int | None:
        return None

    def forward(self, idx: torch.Tensor, *, cache=None, segments: torch.Tensor | None = None) -> torch.Tensor:
        B, T = idx.shape
        logits = torch.zeros(B, T, TOKENIZER.vocab_size)
        for position in range(T):
            logits[:, position, TOKENIZER.token_to_id[ACTIONS[(position + 1) % 2]]] = 40.0
        logits[:, :, TOKENIZER.eos_id] = self.eos_logit
        return logits  # (B, T, V)


def _expected(source: str, length: int) -> str:
    """What Scripted emits after `<s> source` when held to `length` tokens."""
    start = 1 + len(source.split())
    return " ".join(ACTIONS[(start + j) % 2] for j in range(length))


SOURCES = ["walk", "jump twice", "walk", "walk twice"]
LENGTHS = [3, 0, 5, 1]


@pytest.mark.parametrize("decoding", [{}, {"temperature": 1.0, "seed": 0}, {"beam_width": 3}])
def test_a_model_that_wants_to_stop_at_once_emits_exactly_the_oracle_length(decoding):
    model = Scripted(eos_logit=50.0)
    assert translate(model, TOKENIZER, SOURCES, **decoding) == ["", "", "", ""]  # </s> first, every time
    held = translate(model, TOKENIZER, SOURCES, target_lengths=LENGTHS, **decoding)
    assert [len(p.split()) for p in held] == LENGTHS
    assert held == [_expected(s, n) for s, n in zip(SOURCES, LENGTHS, strict=True)]


@pytest.mark.parametrize("decoding", [{}, {"beam_width": 2}])
def test_a_model_that_never_stops_is_stopped_at_the_oracle_length(decoding):
    model = Scripted(eos_logit=-50.0)
    endless = translate(model, TOKENIZER, SOURCES, max_new_tokens=7, **decoding)
    assert [len(p.split()) for p in endless] == [7, 7, 7, 7]  # runs to the limit without the oracle
    held = translate(model, TOKENIZER, SOURCES, max_new_tokens=7, target_lengths=LENGTHS, **decoding)
    assert held == [_expected(s, n) for s, n in zip(SOURCES, LENGTHS, strict=True)]


def test_oracle_logits_suppress_then_force_the_end():
    logits = torch.arange(12, dtype=torch.float).view(3, 4)  # (B, V)
    eos = 2
    held = oracle_logits(logits, eos, step=2, lengths=torch.tensor([0, 2, 5]))
    assert torch.isinf(held[0]).tolist() == [True, True, False, True] and held[0, eos] == 0  # past its end
    assert torch.isinf(held[1]).tolist() == [True, True, False, True] and held[1, eos] == 0  # at its end
    assert held[2, eos] == float("-inf")  # not there yet: </s> suppressed, the rest untouched
    assert held[2].tolist()[:2] == [8.0, 9.0] and held[2, 3] == 11.0
    assert logits[0, eos] == 2.0  # the input is not changed in place


def test_oracle_lengths_are_checked():
    model = Scripted(eos_logit=0.0)
    with pytest.raises(LmlabError, match="2 oracle lengths for 4 sources"):
        translate(model, TOKENIZER, SOURCES, target_lengths=[1, 2])
    with pytest.raises(LmlabError, match="negative"):
        translate(model, TOKENIZER, SOURCES, target_lengths=[1, -1, 2, 3])


def test_error_kinds_of_hand_made_sequences():
    ref = "I_WALK I_JUMP I_RUN".split()
    assert error_kind(ref, ref) is None
    assert error_kind([], ref) == STOPPED_EARLY
    assert error_kind(ref[:2], ref) == STOPPED_EARLY
    assert error_kind([*ref, "I_RUN"], ref) == WENT_ON
    assert error_kind(["I_WALK"], []) == WENT_ON
    assert error_kind("I_WALK I_RUN I_RUN".split(), ref) == WRONG_ACTION  # same length
    assert error_kind("I_WALK I_RUN".split(), ref) == WRONG_ACTION  # shorter, but not a prefix
    assert error_kind("I_JUMP I_JUMP I_RUN I_RUN".split(), ref) == WRONG_ACTION  # longer, not an extension


def test_the_report_counts_and_shares_the_errors():
    examples = [
        Example("walk twice", "I_WALK I_WALK", "I_WALK I_WALK"),  # right
        Example("walk thrice", "I_WALK I_WALK I_WALK", "I_WALK I_WALK"),  # stopped early
        Example("run", "I_RUN", "I_RUN I_RUN"),  # went on
        Example("jump", "I_JUMP", "I_RUN"),  # wrong action, right length
        Example("jump twice", "I_JUMP I_JUMP", "I_RUN I_JUMP"),  # wrong action, right length
        Example("run twice", "I_RUN I_RUN", "I_WALK"),  # wrong action, wrong length
    ]
    report = TranslationReport("test", "greedy", examples, seconds=0.0)
    assert [(c.kind, c.count, c.share) for c in report.errors()] == [
        (STOPPED_EARLY, 1, 0.2),
        (WENT_ON, 1, 0.2),
        (WRONG_ACTION, 3, 0.6),
    ]
    assert report.wrong_with_right_length == 2 and not report.oracle_length
    assert [e.error for e in examples] == [
        None,
        STOPPED_EARLY,
        WENT_ON,
        WRONG_ACTION,
        WRONG_ACTION,
        WRONG_ACTION,
    ]
    perfect = TranslationReport("test", "greedy", examples[:1], seconds=0.0)
    assert [(c.count, c.share) for c in perfect.errors()] == [(0, 0.0)] * 3


# --- real runs: a SCAN model trained for a few steps, so that it still gets lengths wrong

FEW_STEPS = [
    "model.n_layer=2",
    "model.n_head=2",
    "model.n_embd=32",
    "model.segment_embeddings=true",
    "train.batch_size=16",
    "train.max_steps=30",
    "train.lr=0.004",
    "train.warmup_steps=5",
    "train.eval_interval=30",
    "train.eval_steps=1",
    "train.device=cpu",
]


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oracle")
    return train_on_clauses(folder, FEW_STEPS, limit=60)


@pytest.fixture(scope="module")
def loaded(scan_run):
    config, tokenizer, model = load_model(RunDir(scan_run), "best", "cpu")
    task = load_pair_task(config.data, SHARED_DATA, tokenizer)
    return tokenizer, model, task


def test_with_the_oracle_every_prediction_has_the_reference_length(loaded):
    tokenizer, model, task = loaded
    free = evaluate_translation(model, tokenizer, task.train, "train")
    assert any(not e.right_length for e in free.examples)  # a model this young gets lengths wrong
    assert sum(c.count for c in free.errors()) == len(free.wrong)
    for decoding in ({}, {"beam_width": 3}, {"temperature": 1.0, "seed": 2}):
        held = evaluate_translation(model, tokenizer, task.train, "train", oracle_length=True, **decoding)
        assert held.oracle_length and held.decoding.endswith(", oracle length")
        assert all(e.right_length for e in held.examples), decoding
        assert [(c.kind, c.count) for c in held.errors()] == [
            (STOPPED_EARLY, 0),
            (WENT_ON, 0),
            (WRONG_ACTION, len(held.wrong)),
        ]
        assert held.wrong_with_right_length == len(held.wrong)


def test_the_oracle_only_changes_where_the_free_prediction_had_the_wrong_length(loaded):
    """Greedy: a free prediction of the right length never met a forced or suppressed </s>."""
    tokenizer, model, task = loaded
    free = evaluate_translation(model, tokenizer, task.train, "train")
    held = evaluate_translation(model, tokenizer, task.train, "train", oracle_length=True)
    for f, h in zip(free.examples, held.examples, strict=True):
        if f.right_length:
            assert f.prediction == h.prediction
        elif f.error == STOPPED_EARLY:
            assert h.prediction.startswith(f.prediction)  # the same tokens, then more instead of </s>


def test_cli_eval_says_the_oracle_was_used_and_sorts_the_errors(scan_run, capsys):
    assert main(["eval", str(scan_run), "--splits", "train", "--oracle-length"]) == 0
    printed = capsys.readouterr().out
    assert "greedy, oracle length decoding" in printed and "ORACLE LENGTH" in printed
    assert "| stopped early | 0 |" in printed and "| went on | 0 |" in printed
    out_dir = scan_run / "eval" / "train-greedy-oracle"
    results = json.loads((out_dir / "results.json").read_text())
    assert results["oracle_length"] is True and results["decoding"] == "greedy, oracle length"
    assert "ORACLE LENGTH" in (out_dir / "summary.md").read_text()
    rows = [line.split("\t") for line in (out_dir / "wrong_predictions.tsv").read_text().splitlines()]
    assert rows[0][-1] == "error" and all(row[-1] == WRONG_ACTION for row in rows[1:])
    assert all(row[3] == row[4] for row in rows[1:])  # expected and predicted lengths agree

    assert main(["eval", str(scan_run), "--splits", "train"]) == 0
    printed = capsys.readouterr().out
    assert "ORACLE" not in printed and "wrong predictions of the right length" in printed
    free_dir = scan_run / "eval" / "train-greedy"
    free = json.loads((free_dir / "results.json").read_text())
    assert free["oracle_length"] is False and free["decoding"] == "greedy"
    counts = {e["kind"]: e["count"] for e in free["errors"]}
    rows = [line.split("\t") for line in (free_dir / "wrong_predictions.tsv").read_text().splitlines()[1:]]
    assert sum(counts.values()) == len(rows) == round((1 - free["exact_match"]) * free["pairs"])
    assert {kind: sum(row[-1] == kind for row in rows) for kind in counts} == counts
    assert free["wrong_with_right_length"] == sum(row[3] == row[4] for row in rows)


def test_the_notebook_api_takes_oracle_length(scan_run):
    run = lmlab.load(scan_run)
    held = run.eval("train", oracle_length=True, beam=2)
    assert held.oracle_length and held.decoding == "beam 2, oracle length"
    assert all(e.right_length for e in held.examples)
    assert not run.eval("train").oracle_length


def test_a_text_run_refuses_the_oracle(tmp_path, capsys):
    train(tiny_config("train.max_steps=1", "train.eval_steps=1"), tmp_path / "text", progress=False)
    assert main(["eval", str(tmp_path / "text"), "--oracle-length"]) == 2
    assert "--oracle-length are for pair tasks" in capsys.readouterr().err
    with pytest.raises(LmlabError, match="oracle_length are for pair tasks"):
        lmlab.load(tmp_path / "text").eval(oracle_length=True)
