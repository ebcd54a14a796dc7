"""Summary metrics of a run's curves (the arithmetic assignment's notation), and their mean ± std over seeds.

For a run with evaluations at steps t ≤ T_max:
    L_train, L_val = min over t of the loss;   A_train, A_val = max over t of the accuracy;
    t_f(M) = the first step at which M is reached;
    Δt(L) = t_f(L_val) − t_f(L_train),  Δt(A) = t_f(A_val) − t_f(A_train): the delay between
    memorising the training set and generalising (grokking shows as a large Δt(A)).
`max_step` restricts a run to its first steps (a budget fraction α of T) without retraining.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# summary name -> (metrics.jsonl field, best is "min" or "max")
EXTREMA = {
    "L_train": ("train_loss", "min"),
    "L_val": ("val_loss", "min"),
    "A_train": ("train_acc", "max"),
    "A_val": ("val_acc", "max"),
}
DELAYS = {"dt_L": ("L_val", "L_train"), "dt_A": ("A_val", "A_train")}
# every summary column, with the direction that counts as best in a table
SUMMARY_COLUMNS: dict[str, str] = {
    **{name: best for name, (_, best) in EXTREMA.items()},
    **{f"tf_{name}": "min" for name in EXTREMA},
    "dt_L": "min",
    "dt_A": "min",
}
LABELS = {
    "L_train": "L_train",
    "L_val": "L_val",
    "A_train": "A_train",
    "A_val": "A_val",
    "tf_L_train": "t_f(L_train)",
    "tf_L_val": "t_f(L_val)",
    "tf_A_train": "t_f(A_train)",
    "tf_A_val": "t_f(A_val)",
    "dt_L": "Δt(L)",
    "dt_A": "Δt(A)",
}


def summarize_run(records: list[dict[str, Any]], max_step: float | None = None) -> dict[str, float]:
    """Summary metrics of one run's metrics records (those at step <= max_step when given).

    A metric the run did not record (accuracy of a text model) is left out.
    """
    kept = [r for r in records if max_step is None or r["step"] <= max_step]
    summary: dict[str, float] = {}
    for name, (field, best) in EXTREMA.items():
        points = [(r["step"], r[field]) for r in kept if field in r]
        if not points:
            continue
        value = min(v for _, v in points) if best == "min" else max(v for _, v in points)
        summary[name] = value
        summary[f"tf_{name}"] = next(step for step, v in points if v == value)
    for name, (val, train) in DELAYS.items():
        if f"tf_{val}" in summary and f"tf_{train}" in summary:
            summary[name] = summary[f"tf_{val}"] - summary[f"tf_{train}"]
    return summary


@dataclass(frozen=True)
class Aggregate:
    mean: float
    std: float  # population standard deviation over seeds (0 for one seed)
    n: int


def aggregate(summaries: list[dict[str, float]]) -> dict[str, Aggregate]:
    """Mean ± std of each summary metric over runs (seeds) that recorded it."""
    result = {}
    for name in SUMMARY_COLUMNS:
        values = [s[name] for s in summaries if name in s]
        if not values:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        result[name] = Aggregate(mean, std, len(values))
    return result
