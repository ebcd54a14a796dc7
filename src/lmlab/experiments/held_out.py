"""Held-out scores of a finished pair-task run for sweep tables: greedy decoding of the test split by
the checkpoint that validation chose (`best`), kept in RUN/held_out.json so a sweep's tables are
rebuilt without decoding again.

The test split only ever gets scored here: it picks nothing (model selection is `best`, by the val
loss on the validation pairs, which data.val_min_actions can make the longest training pairs).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lmlab.data.pairs import load_pair_task
from lmlab.evaluation.translation import STOPPED_EARLY, WENT_ON, WRONG_ACTION, evaluate_translation
from lmlab.runs.files import write_atomic
from lmlab.runs.run_dir import RunDir, load_model

FILE_NAME = "held_out.json"
CHECKPOINT = "best"
# summary name -> the share of the held-out commands with that error (not of the wrong ones only)
ERROR_SHARES = {"E_early": STOPPED_EARLY, "E_went_on": WENT_ON, "E_wrong": WRONG_ACTION}
SCORES = ("E_test", "A_tok_test", *ERROR_SHARES, "E_oracle")


def held_out_scores(run: RunDir, data_dir: Path | None = None) -> dict[str, float]:
    """{"E_test": exact match, "A_tok_test": token accuracy, "E_early", "E_went_on", "E_wrong": shares
    of the held-out commands by error, "E_oracle": exact match when each prediction is held to its
    reference's length (Lake & Baroni's oracle)}; {} for a run that is not SCAN or has no best
    checkpoint."""
    config = run.config()
    step = run.checkpoint_step(CHECKPOINT)
    if config.data.dataset != "scan" or step is None:
        return {}
    path = run.path / FILE_NAME
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("step") == step and set(SCORES) <= set(saved["scores"]):  # a resumed run: again
            return saved["scores"]
    _config, tokenizer, model = load_model(run, CHECKPOINT)
    task = load_pair_task(config.data, run.data_dir(data_dir), tokenizer)
    split = task.held_out
    pairs = task.split(split)
    with torch.inference_mode():
        report = evaluate_translation(model, tokenizer, pairs, split)
        oracle = evaluate_translation(model, tokenizer, pairs, split, oracle_length=True)
    total = len(report.examples)
    scores = {"E_test": report.exact_match, "A_tok_test": report.token_accuracy}
    counts = {e.kind: e.count for e in report.errors()}
    scores.update({name: counts[kind] / total for name, kind in ERROR_SHARES.items()})
    scores["E_oracle"] = oracle.exact_match
    write_atomic(path, json.dumps({"checkpoint": CHECKPOINT, "step": step, "split": split, "scores": scores}))
    return scores
