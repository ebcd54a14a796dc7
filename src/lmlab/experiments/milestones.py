"""A run's evaluations at chosen epochs or steps: the SCAN assignment's lr, train and val loss at
epochs 1, 10, 30 and 60, read from metrics.jsonl without retraining."""

from __future__ import annotations

from typing import Any

from lmlab.errors import LmlabError

UNITS = ("epoch", "step")
# what a row holds of its evaluation record, in table order; accuracies only where the run records them
FIELDS = ("step", "epoch", "lr", "train_loss", "val_loss", "train_acc", "val_acc")


def records_at(records: list[dict[str, Any]], at: list[int], unit: str = "epoch") -> list[dict[str, Any]]:
    """For each point of `at` (epochs or steps, per `unit`), the evaluation at it or the nearest after it.

    Returns one row per point: {"at": point, "step": ..., "epoch": ..., "lr": ..., "train_loss": ...,
    "val_loss": ...} (and "train_acc", "val_acc" for pair tasks); a point past the last evaluation gets
    None in each field. An evaluation at epoch 1 is the one on the step that completed the first epoch
    (its "epoch" may read 1.02): train with train.eval_interval_epochs=1 for one at every epoch.
    """
    if unit not in UNITS:
        raise LmlabError(f"unit {unit!r} is unknown; choose one of {', '.join(UNITS)}")
    if unit == "epoch" and any("epoch" not in r for r in records):
        raise LmlabError("this run reads a text corpus in random windows and has no epochs; ask for steps")
    fields = [name for name in FIELDS if any(name in r for r in records)]
    ordered = sorted(records, key=lambda r: r["step"])
    rows = []
    for point in at:
        record = next((r for r in ordered if r[unit] >= point), None)
        rows.append({"at": point, **{name: (record or {}).get(name) for name in fields}})
    return rows
