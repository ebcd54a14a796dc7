"""A pair-task evaluation written out: summary.md, results.json, wrong_predictions.tsv, breakdown.png."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.evaluation.translation import TranslationReport
from lmlab.plots.breakdown import plot_breakdown
from lmlab.runs.run_dir import write_atomic


def summary_lines(report: TranslationReport) -> list[str]:
    n = len(report.examples)
    return [
        f"{report.split}: {n:,} pairs, {report.decoding} decoding in {report.seconds:.1f} s",
        f"exact match     {report.exact_match:8.2%}  ({n - len(report.wrong):,} of {n:,})",
        f"token accuracy  {report.token_accuracy:8.2%}",
    ]


def breakdown_markdown(report: TranslationReport) -> str:
    """Two Markdown tables: exact match by action-sequence length and by command length."""
    parts = []
    for of, title in (("target", "action-sequence length"), ("source", "command length (words)")):
        parts.append(f"| {title} | pairs | correct | exact match |\n|---:|---:|---:|---:|")
        for b in report.by_length(of):
            parts.append(f"| {b.length} | {b.count} | {b.correct} | {b.exact_match:.1%} |")
        parts.append("")
    return "\n".join(parts)


def results_json(report: TranslationReport) -> str:
    """The scores and both breakdowns as JSON."""
    results = {
        "split": report.split,
        "decoding": report.decoding,
        "pairs": len(report.examples),
        "exact_match": report.exact_match,
        "token_accuracy": report.token_accuracy,
        "seconds": report.seconds,
        "by_action_length": [b.__dict__ for b in report.by_length("target")],
        "by_command_length": [b.__dict__ for b in report.by_length("source")],
    }
    return json.dumps(results, indent=2)


def wrong_predictions_tsv(report: TranslationReport) -> str:
    """One line per wrong prediction: command, expected, predicted and both lengths in actions."""
    rows = ["command\texpected\tpredicted\texpected_length\tpredicted_length"]
    for e in report.wrong:
        rows.append(
            f"{e.source}\t{e.reference}\t{e.prediction}\t{len(e.reference.split())}\t{len(e.prediction.split())}"
        )
    return "\n".join(rows) + "\n"


def write_translation_report(report: TranslationReport, out_dir: Path) -> dict[str, Path]:
    """summary.md, results.json, wrong_predictions.tsv and breakdown.png in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out_dir / "summary.md",
        "results": out_dir / "results.json",
        "wrong": out_dir / "wrong_predictions.tsv",
        "plot": out_dir / "breakdown.png",
    }
    write_atomic(paths["summary"], "\n".join(summary_lines(report)) + "\n\n" + breakdown_markdown(report))
    write_atomic(paths["results"], results_json(report))
    write_atomic(paths["wrong"], wrong_predictions_tsv(report))
    plot_breakdown(report, paths["plot"])
    return paths
