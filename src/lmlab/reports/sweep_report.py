"""The report of a sweep: the summary table over seeds, every run's own summary, the comparison plots
and what was swept. Figures are redrawn from the runs into `folder`, so the report matches the runs
on disk even when the sweep's own plots are older."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.experiments.results import collect
from lmlab.experiments.summary import LABELS, REACHED, SUMMARY_COLUMNS, summarize_run, unreached
from lmlab.experiments.sweep import SweepSpec, expand
from lmlab.plots.curves import plot_loss_curves
from lmlab.plots.sweep import plot_sweep
from lmlab.reports.document import Figure, Item, Paragraph, Report, Section, Table, key_value_table
from lmlab.reports.sweep_tables import NOT_REACHED, table, table_caption
from lmlab.reports.tables import Cell, Column
from lmlab.runs.run_dir import RunDir

RUN_COLUMNS = ("L_train", "L_val", "A_train", "A_val", "tf_A_val")  # per-run table, where recorded
MOST_CURVES_ON_ONE_PLOT = 8  # more runs than this make the all-runs loss plot unreadable
FIGURE_CAPTIONS = {
    "curves": "Curves against step, mean ± std over seeds, one colour per value of the last swept key.",
    "curves_order": "The same curves over one operation order's equations alone (binary or ternary).",
    "summary": "Summary metrics (best over training, and the step reaching it) against the last swept key; "
    "points some seed never reached are left out.",
    "summary_vs_parameters": "Summary metrics against non-embedding parameters, one series per preset.",
}


def load_sweep(path: Path) -> SweepSpec:
    """The sweep recorded in path/sweep.json, named after its folder."""
    return SweepSpec.from_dict(json.loads((path / "sweep.json").read_text()), name=path.resolve().name)


def sweep_report(path: Path, folder: Path) -> Report:
    """Every section of the sweep's report; figures are written into `folder`."""
    spec = load_sweep(path)
    results = collect(spec, path)
    if not results:
        raise LmlabError(f"{path} has no finished runs yet; run `lmlab sweep` into it first")
    runs = {r.name: RunDir(path / "runs" / r.name) for r in expand(spec)}
    curves = {name: records for name, run in runs.items() if (records := run.metrics())}
    columns, rows = table(spec, results)
    summary = [
        Paragraph(
            f"{len(curves)} of {len(runs)} runs have results: preset {spec.preset}, grid "
            f"{_grid_text(spec)}, seeds {', '.join(map(str, spec.seeds))}."
        ),
        Table(
            table_caption(spec, any(r.groups for r in results), any("E_test" in r.metrics for r in results)),
            columns,
            rows,
        ),
    ]
    sections = [
        Section("summary", "Summary over seeds", summary),
        Section("runs", "Every run", [_runs_table(curves)]),
        Section("plots", "Comparison plots", _figures(spec, results, curves, folder)),
        Section("config", "What was swept", [_spec_table(spec)]),
    ]
    subtitle = f"Sweep {spec.name} ({path}): {len(curves)} runs over {_grid_text(spec)}."
    return Report(f"lmlab report: sweep {spec.name}", subtitle, sections)


def _grid_text(spec: SweepSpec) -> str:
    return "; ".join(f"{key} = {', '.join(values)}" for key, values in spec.grid.items()) or "seeds only"


def _runs_table(curves: dict[str, list[dict]]) -> Table:
    """One row per run: its own summary metrics (no averaging), best of each column in bold."""
    summaries = {name: summarize_run(records) for name, records in curves.items()}
    metrics = [m for m in RUN_COLUMNS if any(m in s for s in summaries.values())]
    columns = [Column("run"), Column("steps", align="r")]
    columns += [Column(LABELS[m], SUMMARY_COLUMNS[m]) for m in metrics]
    rows = []
    for name, summary in summaries.items():
        row = [Cell(name), Cell(f"{curves[name][-1]['step']:,}")]
        missed = unreached(summary)
        for m in metrics:
            value = summary.get(m)
            if m in missed:
                row.append(Cell(NOT_REACHED))
            elif value is None:
                row.append(Cell("–"))
            else:
                row.append(Cell(_format(m, value), value))
        rows.append(row)
    caption = (
        "Each run's lowest loss L and highest accuracy A over training (estimates on a few batches), "
        f"and t_f(A_val), the first step reaching its best val accuracy ({NOT_REACHED} below accuracy "
        f"{REACHED:g}); best of each column in bold."
    )
    return Table(caption, columns, rows)


def _format(metric: str, value: float) -> str:
    """Steps as integers, accuracy in percent, losses to four significant digits (tiny ones included)."""
    if metric.startswith("tf_"):
        return f"{value:,.0f}"
    return f"{value:.2%}" if metric.startswith("A_") else f"{value:.4g}"


def _figures(spec: SweepSpec, results, curves: dict[str, list[dict]], folder: Path) -> list[Item]:
    figures: list[Item] = [
        Figure(f"{_figure_caption(png.stem)} ({png.stem})", png)
        for png in plot_sweep(spec, results, folder / "plots")
    ]
    if len(curves) <= MOST_CURVES_ON_ONE_PLOT:
        png, pdf = folder / "runs.png", folder / "runs.pdf"
        for out in (png, pdf):
            plot_loss_curves(curves, out, title=f"{spec.name}: every run")
        figures.append(Figure("Every run's train (dashed) and val (solid) curves.", png, pdf))
    return figures


def _figure_caption(stem: str) -> str:
    """The caption of plot_sweep's figure `stem` (e.g. curves_n_layer=2: the curves of one group)."""
    kind = max((k for k in FIGURE_CAPTIONS if stem.startswith(k)), key=len)
    return FIGURE_CAPTIONS[kind]


def _spec_table(spec: SweepSpec) -> Table:
    pairs = [("preset", spec.preset)]
    pairs += [(f"grid: {key}", ", ".join(values)) for key, values in spec.grid.items()]
    pairs += [
        ("seeds", ", ".join(map(str, spec.seeds))),
        ("overrides", " ".join(spec.overrides) or "none"),
        ("budget fractions", ", ".join(f"{a:g}" for a in spec.budget_fractions)),
    ]
    return key_value_table("The sweep, as recorded in sweep.json.", pairs, ("setting", "value"))
