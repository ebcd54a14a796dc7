"""A sweep's results as tables: Markdown, LaTeX (best in bold) and CSV (mean and std apart).

Runs that score groups apart (binary and ternary equations) get one row per group after the row over
every example. A t_f or Δt that some seed never reached (see lmlab.experiments.summary.unreached)
reads "not reached" and is never bold: a mean over the seeds that did would flatter the point.
"""

from __future__ import annotations

import math
from pathlib import Path

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import HELD_OUT, LABELS, REACHED, SUMMARY_COLUMNS, Aggregate
from lmlab.experiments.sweep import SweepSpec
from lmlab.reports.tables import Cell, Column, to_csv, to_latex, to_markdown

ALL = "all"  # the group column's value for the row over every example
NOT_REACHED = "not reached"


def _rows_of(results: list[PointResult]) -> list[tuple[PointResult, str, dict[str, Aggregate]]]:
    """(result, group, its metrics): every result's row over all examples, then one per group."""
    rows = []
    for r in results:
        rows.append((r, ALL, r.metrics))
        rows += [(r, group, metrics) for group, metrics in r.groups.items()]
    return rows


def _metrics(results: list[PointResult]) -> list[str]:
    return [m for m in SUMMARY_COLUMNS if any(m in ms for _, _, ms in _rows_of(results))]


def table(spec: SweepSpec, results: list[PointResult]) -> tuple[list[Column], list[list[Cell]]]:
    """Columns: the swept keys, α when several budgets, the group when runs score groups apart, P,
    C = P·B·T, then every summary metric as mean ± std."""
    keys = list(spec.grid)
    metrics = _metrics(results)
    by_group = any(r.groups for r in results)
    columns = [Column(k) for k in keys]
    if len(spec.budget_fractions) > 1:
        columns.append(Column("α"))
    if by_group:
        columns.append(Column("group"))
    columns += [Column("P", align="r"), Column("C = P·B·T", align="r")]
    columns += [Column(LABELS[m], SUMMARY_COLUMNS[m]) for m in metrics]
    rows = []
    for r, group, aggregates in _rows_of(results):
        row = [Cell(r.point[k]) for k in keys]
        if len(spec.budget_fractions) > 1:
            row.append(Cell(f"{r.budget:g}"))
        if by_group:
            row.append(Cell(group))
        row += [Cell(f"{r.parameters:,}"), Cell(f"{r.compute:.3g}")]
        row += [_cell(m, aggregates.get(m)) for m in metrics]
        rows.append(row)
    return columns, rows


def _cell(metric: str, a: Aggregate | None) -> Cell:
    if a is None:
        return Cell("–")
    if a.unreached and not a.n:
        return Cell(NOT_REACHED)
    if a.unreached:  # some seeds reached it: their mean, marked, and never the column's best
        return Cell(f"{_format(metric, a)} ({NOT_REACHED} by {a.unreached} of {a.n + a.unreached})")
    return Cell(_format(metric, a), a.mean)


def _format(metric: str, a: Aggregate) -> str:
    if metric in HELD_OUT:
        return f"{a.mean:.2%} ± {a.std:.2%}" if a.n > 1 else f"{a.mean:.2%}"
    if metric.startswith(("tf_", "dt_")):
        return f"{a.mean:.0f} ± {a.std:.0f}" if a.n > 1 else f"{a.mean:.0f}"
    return f"{a.mean:.4f} ± {a.std:.4f}" if a.n > 1 else f"{a.mean:.4f}"


def write_tables(spec: SweepSpec, results: list[PointResult], out_dir: Path) -> list[Path]:
    """summary.md, summary.tex (best in bold) and summary.csv (mean and std in separate columns)."""
    columns, rows = table(spec, results)
    held_out = any("E_test" in r.metrics for r in results)
    caption = table_caption(spec, grouped=any(r.groups for r in results), held_out=held_out)
    paths = [out_dir / "summary.md", out_dir / "summary.tex", out_dir / "summary.csv"]
    paths[0].write_text(f"{caption}\n\n{to_markdown(columns, rows)}")
    paths[1].write_text(to_latex(columns, rows, caption))
    paths[2].write_text(_csv(spec, results))
    return paths


def table_caption(spec: SweepSpec, grouped: bool = False, held_out: bool = False) -> str:
    seeds = ", ".join(str(s) for s in spec.seeds)
    groups = (
        " group: the equations scored (all, or one operation order: order2 binary, order3 ternary)."
        if grouped
        else ""
    )
    return (
        f"Sweep {spec.name} over {', '.join(spec.grid) or 'seeds'}: mean ± std over seeds {seeds}. "
        "L: lowest loss, A: highest accuracy, t_f: first step reaching it, Δt = t_f(val) − t_f(train), "
        f"P: non-embedding parameters, C = P·B·T: non-embedding training compute (B: batch size, T: "
        f"training steps counted); t_f(A) and Δt are {NOT_REACHED} when the accuracy stayed below "
        f"{REACHED:g}; best of each column in bold.{groups}"
    ) + (
        " Test: the test split decoded greedily by each run's best checkpoint (the lowest val loss: "
        "the test split picks nothing); stopped early, went on, wrong action: shares of the test "
        "commands by error; oracle length: each prediction held to its reference's length (Lake & "
        "Baroni's protocol, the end-of-sequence decision taken out)."
        if held_out
        else ""
    )


def _csv(spec: SweepSpec, results: list[PointResult]) -> str:
    keys = list(spec.grid)
    metrics = _metrics(results)
    header = [*keys, "budget_fraction", "non_embedding_parameters", "seeds"]
    header += [f"{m}_{stat}" for m in metrics for stat in ("mean", "std")]
    header += ["group", "batch_size", "steps", "compute"]
    counted = [m for m in metrics if m.startswith(("tf_A", "dt_"))]  # those a seed may not reach
    header += [f"{m}_not_reached" for m in counted]
    records = []
    for r, group, aggregates in _rows_of(results):
        n = max((a.n + a.unreached for a in r.metrics.values()), default=0)
        record: list[object] = [*(r.point[k] for k in keys), r.budget, r.parameters, n]
        for m in metrics:
            a = aggregates.get(m)
            record += [a.mean, a.std] if a and not math.isnan(a.mean) else ["", ""]
        record += [group, r.batch_size, r.steps, r.compute]
        record += [a.unreached if (a := aggregates.get(m)) else "" for m in counted]
        records.append(record)
    return to_csv(header, records)
