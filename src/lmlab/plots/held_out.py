"""SCAN sweeps: test exact match of every grid point (mean ± std over seeds) as grouped bars, and the
test commands by outcome (right, stopped early, went on, wrong action) as stacked bars.

The bars are grouped by the first grid key's values (e.g. the split) and coloured by the last key's
(e.g. the position encoding); with one key, one group.
"""

from __future__ import annotations

import numpy as np

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import LABELS
from lmlab.experiments.sweep import SweepSpec
from lmlab.plots.figures import Figure, text
from lmlab.plots.sweep_keys import group_by, label, short

OUTCOMES = ("E_test", "E_early", "E_went_on", "E_wrong")
OUTCOME_NAMES = {"E_test": "right", **{k: LABELS[k] for k in OUTCOMES[1:]}}
OUTCOME_COLOURS = {"E_test": "C2", "E_early": "C0", "E_went_on": "C1", "E_wrong": "C3"}


def held_out_figure(spec: SweepSpec, results: list[PointResult]) -> Figure:
    """Returns a Figure: test exact match per grid point (left), and the test commands by outcome
    (right), mean over seeds."""
    scored = [r for r in results if r.budget == 1.0 and "E_test" in r.metrics]
    keys = list(spec.grid)
    outer, inner = (keys[:1], keys[1:]) if len(keys) > 1 else ([], keys)
    groups = group_by(scored, outer)
    inner_values = list(group_by(scored, inner))
    fig = Figure(figsize=(max(9, 1.1 * len(scored) + 4), 4.5), layout="constrained")
    bars_ax, stack_ax = fig.subplots(1, 2, width_ratios=[1, 1.3])
    width = 0.8 / max(1, len(inner_values))
    for j, value in enumerate(inner_values):
        xs, means, stds, oracle = [], [], [], []
        for i, members in enumerate(groups.values()):
            match = [m for m in members if tuple(m.point[k] for k in inner) == value]
            if match:
                xs.append(i + (j - (len(inner_values) - 1) / 2) * width)
                means.append(100 * match[0].metrics["E_test"].mean)
                stds.append(100 * match[0].metrics["E_test"].std)
                oracle.append(
                    100 * match[0].metrics["E_oracle"].mean if "E_oracle" in match[0].metrics else 0
                )
        colour = f"C{j % 10}"
        bars_ax.bar(xs, oracle, width, color=colour, alpha=0.3)  # behind: with the oracle length
        bars_ax.bar(xs, means, width, yerr=stds, capsize=2, color=colour, label=text(label(inner, value)))
    names = [text(", ".join(g)) if outer else spec.name for g in groups]  # the values; the key below
    bars_ax.set_xticks(range(len(groups)), names, fontsize=8)
    if outer:
        bars_ax.set_xlabel(text(short(outer[0])))
    bars_ax.set_ylabel("test exact match (%); light: with the oracle length")
    bars_ax.set_ylim(0, 100)
    bars_ax.grid(True, axis="y", alpha=0.3)
    if len(inner_values) > 1:
        bars_ax.legend(fontsize=8)
    names = [text(label(keys, tuple(r.point[k] for k in keys))) for r in scored]
    bottom = np.zeros(len(scored))
    for outcome in OUTCOMES:
        shares = np.array([100 * r.metrics[outcome].mean if outcome in r.metrics else 0.0 for r in scored])
        stack_ax.barh(
            names, shares, left=bottom, color=OUTCOME_COLOURS[outcome], label=OUTCOME_NAMES[outcome]
        )
        bottom += shares
    stack_ax.set_xlabel("test commands (%), mean over seeds")
    stack_ax.set_xlim(0, 100)
    stack_ax.invert_yaxis()
    stack_ax.legend(fontsize=8, loc="lower right")
    keys_text = " and ".join(short(k) for k in keys) or "seed"
    fig.suptitle(text(f"{spec.name}: the test split by {keys_text}, best checkpoint by val loss"))
    return fig
