"""SCAN sweeps score the test split with each run's best checkpoint: mean ± std tables of test exact
match and of the errors' kinds, the outcome figure, and a held_out.json reused on the next call."""

from __future__ import annotations

import json

from lmlab.cli.main import main
from lmlab.data.pairs import load_pair_task
from lmlab.evaluation.translation import evaluate_translation
from lmlab.experiments.held_out import FILE_NAME, held_out_scores
from lmlab.experiments.results import collect
from lmlab.experiments.sweep import SweepSpec
from lmlab.recipes import load_recipe
from lmlab.runs.run_dir import RunDir, load_model

from .conftest import SHARED_DATA

SMALL = [
    "model.n_layer=1", "model.n_head=2", "model.n_embd=16", "train.max_steps=6", "train.eval_interval=3",
    "train.eval_steps=2", "train.batch_size=16", "train.device=cpu", "data.train_fraction=0.99",
]  # fmt: skip


def test_a_scan_sweep_tables_the_test_split_of_every_best_checkpoint(tmp_path, capsys):
    out = tmp_path / "sweep"
    settings = [a for s in SMALL for a in ("--set", s)]
    args = ["sweep", "scan-addprim-turn-left", "--grid", "model.position=learned,alibi", "--seeds", "0,1",
            "--workers", "2", "--out", str(out), "--data-dir", str(SHARED_DATA), *settings]  # fmt: skip
    assert main(args) == 0
    summary = (out / "summary.md").read_text()
    assert (
        "test exact match" in summary
        and "stopped early" in summary
        and "the test split picks nothing" in summary
    )
    assert (out / "plots" / "test.png").read_bytes()[:4] == b"\x89PNG"
    spec = SweepSpec(preset="scan-addprim-turn-left", grid={"model.position": ["learned", "alibi"]},
                     seeds=(0, 1), overrides=tuple(SMALL))  # fmt: skip
    results = collect(spec, out)
    for result in results:
        test = result.metrics["E_test"]
        assert test.n == 2 and 0 <= test.mean <= 1
        shares = sum(result.metrics[k].mean for k in ("E_test", "E_early", "E_went_on", "E_wrong"))
        assert abs(shares - 1) < 1e-9  # every test command is right or one kind of wrong
        # the oracle only removes the end-of-sequence decision: a right prediction stays right
        assert result.metrics["E_oracle"].mean >= test.mean
    # the file holds what decoding the best checkpoint gives, and is read back instead of decoding again
    run = RunDir(out / "runs" / "position=alibi_seed=1")
    saved = json.loads((run.path / FILE_NAME).read_text())
    assert saved["checkpoint"] == "best" and saved["split"] == "test"
    config, tokenizer, model = load_model(run, "best")
    task = load_pair_task(config.data, SHARED_DATA, tokenizer)
    report = evaluate_translation(model, tokenizer, task.split("test"), "test")
    assert saved["scores"]["E_test"] == report.exact_match
    saved["scores"]["E_test"] = 0.123  # a planted value: held_out_scores must read it, not decode again
    (run.path / FILE_NAME).write_text(json.dumps(saved))
    assert held_out_scores(run)["E_test"] == 0.123


def test_text_and_arithmetic_runs_get_no_test_columns(tmp_path):
    spec = load_recipe("arith-sanity")
    assert "E_test" not in str(spec.to_dict())  # nothing about recipes changes
    out = tmp_path / "sweep"
    args = ["sweep", "arith-gpt", "--seeds", "0", "--out", str(out), "--set", "data.p=5",
            "--set", "model.n_layer=1", "--set", "model.n_embd=16", "--set", "train.max_steps=4",
            "--set", "train.eval_interval=2", "--set", "train.device=cpu"]  # fmt: skip
    assert main(args) == 0
    assert "test exact match" not in (out / "summary.md").read_text()
    assert not any((out / "runs").glob(f"*/{FILE_NAME}"))
