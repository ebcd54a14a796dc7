"""A sweep's results as tables: Markdown, LaTeX (best in bold) and CSV (mean and std apart)."""

from __future__ import annotations

from pathlib import Path

from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import LABELS, SUMMARY_COLUMNS, Aggregate
from lmlab.experiments.sweep import SweepSpec
from lmlab.reports.tables import Cell, Column, to_csv, to_latex, to_markdown


def table(spec: SweepSpec, results: list[PointResult]) -> tuple[list[Column], list[list[Cell]]]:
    """Columns: the swept keys, α when several budgets, P, then every summary metric as mean ± std."""
    keys = list(spec.grid)
    metrics = [m for m in SUMMARY_COLUMNS if any(m in r.metrics for r in results)]
    columns = [Column(k) for k in keys]
    if len(spec.budget_fractions) > 1:
        columns.append(Column("α"))
    columns.append(Column("P", align="r"))
    columns += [Column(LABELS[m], SUMMARY_COLUMNS[m]) for m in metrics]
    rows = []
    for r in results:
        row = [Cell(r.point[k]) for k in keys]
        if len(spec.budget_fractions) > 1:
            row.append(Cell(f"{r.budget:g}"))
        row.append(Cell(f"{r.parameters:,}"))
        for m in metrics:
            a = r.metrics.get(m)
            row.append(Cell(_format(m, a), a.mean) if a else Cell("–"))
        rows.append(row)
    return columns, rows


def _format(metric: str, a: Aggregate) -> str:
    if metric.startswith(("tf_", "dt_")):
        return f"{a.mean:.0f} ± {a.std:.0f}" if a.n > 1 else f"{a.mean:.0f}"
    return f"{a.mean:.4f} ± {a.std:.4f}" if a.n > 1 else f"{a.mean:.4f}"


def write_tables(spec: SweepSpec, results: list[PointResult], out_dir: Path) -> list[Path]:
    """summary.md, summary.tex (best in bold) and summary.csv (mean and std in separate columns)."""
    columns, rows = table(spec, results)
    caption = table_caption(spec)
    paths = [out_dir / "summary.md", out_dir / "summary.tex", out_dir / "summary.csv"]
    paths[0].write_text(f"{caption}\n\n{to_markdown(columns, rows)}")
    paths[1].write_text(to_latex(columns, rows, caption))
    paths[2].write_text(_csv(spec, results))
    return paths


def table_caption(spec: SweepSpec) -> str:
    seeds = ", ".join(str(s) for s in spec.seeds)
    return (
        f"Sweep {spec.name} over {', '.join(spec.grid) or 'seeds'}: mean ± std over seeds {seeds}. "
        "L: lowest loss, A: highest accuracy, t_f: first step reaching it, Δt = t_f(val) − t_f(train), "
        "P: non-embedding parameters; best of each column in bold."
    )


def _csv(spec: SweepSpec, results: list[PointResult]) -> str:
    keys = list(spec.grid)
    metrics = [m for m in SUMMARY_COLUMNS if any(m in r.metrics for r in results)]
    header = [*keys, "budget_fraction", "non_embedding_parameters", "seeds"]
    header += [f"{m}_{stat}" for m in metrics for stat in ("mean", "std")]
    records = []
    for r in results:
        n = max((a.n for a in r.metrics.values()), default=0)
        record: list[object] = [*(r.point[k] for k in keys), r.budget, r.parameters, n]
        for m in metrics:
            a = r.metrics.get(m)
            record += [a.mean, a.std] if a else ["", ""]
        records.append(record)
    return to_csv(header, records)
