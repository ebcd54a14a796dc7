"""What a resumed run may change: training settings, not the model's shape, tokenizer or data.

A resumed run continues the weights, optimizer and data order of its checkpoint, so every config
key that decides those must stay as the run was trained; `--set train.max_steps=...` (extend a run),
a new learning-rate schedule, device or precision are fine. Checked before anything is loaded or
written, so a refused resume leaves the run as it was.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lmlab.config import RunConfig
from lmlab.errors import LmlabError

# model keys that change no weight: regularisation and memory, not shape or function
RESUMABLE_MODEL_KEYS = frozenset({"dropout", "attention_dropout", "checkpoint_activations"})
# values a new config holds before the data decides them: they match whatever the run recorded
UNRESOLVED = frozenset({("model", "vocab_size", 0), ("data", "source", "auto")})


def check_resume_changes(saved: RunConfig, asked: RunConfig, run_path: Path) -> None:
    """Refuse, in one line, a resume whose config changes the model, the data or the optimizer."""
    if saved.train.optimizer != asked.train.optimizer:  # the checkpoint's optimizer state would not fit
        raise LmlabError(
            f"--resume {run_path} cannot change train.optimizer ({saved.train.optimizer!r} -> "
            f"{asked.train.optimizer!r}): the checkpoint holds that optimizer's state; train a new run "
            "with --out instead"
        )
    for section in ("model", "data"):
        before, after = getattr(saved, section), getattr(asked, section)
        for field in dataclasses.fields(before):
            if section == "model" and field.name in RESUMABLE_MODEL_KEYS:
                continue
            old, new = getattr(before, field.name), getattr(after, field.name)
            if (section, field.name, new) in UNRESOLVED:
                continue  # the run recorded what this resolved to (lmlab.runs.trainer._resolved)
            if old != new:
                what = "the model's weights" if section == "model" else "the data the run was trained on"
                raise LmlabError(
                    f"--resume {run_path} cannot change {section}.{field.name} ({old!r} -> {new!r}): it "
                    f"changes {what}; train a new run with --out instead"
                )
