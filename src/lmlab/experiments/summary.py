"""Summary metrics of a run's curves (the arithmetic assignment's notation), and their mean ± std over seeds.

For a run with evaluations at steps t ≤ T_max:
    L_train, L_val = min over t of the loss;   A_train, A_val = max over t of the accuracy;
    t_f(M) = the first step at which M is reached;
    Δt(L) = t_f(L_val) − t_f(L_train),  Δt(A) = t_f(A_val) − t_f(A_train): the delay between
    memorising the training set and generalising (grokking shows as a large Δt(A)).
`max_step` restricts a run to its first steps (a budget fraction α of T) without retraining.

A t_f or Δt of accuracy only means something for a run that got there: the arithmetic assignment
calls a run generalised at A_val >= 0.9 (question 3 d). Below that threshold t_f(A) is the step of a
poor best and Δt is no delay at all, so `unreached` names them and tables show "not reached".
Runs of mixed operation orders also record every metric per group (e.g. `val_acc_order2`); `group`
summarises one of them with the same definitions.
"""

from __future__ import annotations

import math
import re
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
    # SCAN: the test split decoded by the best checkpoint (lmlab.experiments.held_out), the full budget only
    "E_test": "max",
    "A_tok_test": "max",
    "E_early": "min",
    "E_went_on": "min",
    "E_wrong": "min",
    "E_oracle": "max",
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
    "E_test": "test exact match",
    "A_tok_test": "test token accuracy",
    "E_early": "stopped early",
    "E_went_on": "went on",
    "E_wrong": "wrong action",
    "E_oracle": "test exact match, oracle length",
}
HELD_OUT = (
    "E_test",
    "A_tok_test",
    "E_early",
    "E_went_on",
    "E_wrong",
    "E_oracle",
)  # shares, shown as percentages
REACHED = 0.9  # accuracy a run must reach for its t_f(A) and Δt to count (the assignment's "generalises")
GROUP_FIELD = re.compile(r"^(?:train|val)_(?:loss|acc)_(\w+)$")  # e.g. val_acc_order2 -> order2


def summarize_run(
    records: list[dict[str, Any]], max_step: float | None = None, group: str | None = None
) -> dict[str, float]:
    """Summary metrics of one run's metrics records (those at step <= max_step when given), over every
    example or over one group's (e.g. "order3": `val_loss_order3` for L_val).

    A metric the run did not record (accuracy of a text model) is left out.
    """
    kept = [r for r in records if max_step is None or r["step"] <= max_step]
    suffix = f"_{group}" if group else ""
    summary: dict[str, float] = {}
    for name, (field, best) in EXTREMA.items():
        points = [(r["step"], r[field + suffix]) for r in kept if field + suffix in r]
        if not points:
            continue
        value = min(v for _, v in points) if best == "min" else max(v for _, v in points)
        summary[name] = value
        summary[f"tf_{name}"] = next(step for step, v in points if v == value)
    for name, (val, train) in DELAYS.items():
        if f"tf_{val}" in summary and f"tf_{train}" in summary:
            summary[name] = summary[f"tf_{val}"] - summary[f"tf_{train}"]
    return summary


def unreached(summary: dict[str, float]) -> set[str]:
    """The t_f and Δt entries of `summary` whose accuracy stayed below REACHED: t_f(A_x) when A_x did,
    and both Δt when either accuracy did (no memorising, or no generalising, so no delay between)."""
    low = {name for name in ("A_train", "A_val") if name in summary and summary[name] < REACHED}
    names = {f"tf_{name}" for name in low}
    if low:
        names |= {name for name in DELAYS if name in summary}
    return names


def groups_of(records: list[dict[str, Any]]) -> list[str]:
    """The groups a run scored apart (e.g. ["order2", "order3"]), from its metrics' field names; none
    when it has one group only (binary equations alone: that group is the whole)."""
    groups = sorted({m.group(1) for r in records for key in r if (m := GROUP_FIELD.match(key))})
    return groups if len(groups) > 1 else []


@dataclass(frozen=True)
class Aggregate:
    mean: float  # over the seeds that reached it; nan when none did
    std: float  # population standard deviation over those seeds (0 for one seed)
    n: int  # seeds in the mean
    unreached: int = 0  # seeds that never reached the accuracy this t_f or Δt needs


def aggregate(summaries: list[dict[str, float]]) -> dict[str, Aggregate]:
    """Mean ± std of each summary metric over runs (seeds) that recorded it, leaving out (and counting)
    the runs for which a t_f or Δt is unreached."""
    result = {}
    missed = [unreached(s) for s in summaries]
    for name in SUMMARY_COLUMNS:
        values = [s[name] for s, no in zip(summaries, missed, strict=True) if name in s and name not in no]
        n_unreached = sum(name in no for no in missed)
        if not values:
            if n_unreached:
                result[name] = Aggregate(math.nan, math.nan, 0, n_unreached)
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        result[name] = Aggregate(mean, std, len(values), n_unreached)
    return result
