"""A pair-task evaluation written out: summary.md, results.json, wrong_predictions.tsv, breakdown.png."""

from __future__ import annotations

import json
from pathlib import Path

from lmlab.evaluation.translation import TranslationReport
from lmlab.plots.breakdown import plot_breakdown
from lmlab.runs.run_dir import write_atomic


def summary_lines(report: TranslationReport) -> list[str]:
    n = len(report.examples)
    lines = [
        f"{report.split}: {n:,} pairs, {report.decoding} decoding in {report.seconds:.1f} s",
        f"exact match     {report.exact_match:8.2%}  ({n - len(report.wrong):,} of {n:,})",
        f"token accuracy  {report.token_accuracy:8.2%}",
    ]
    if report.oracle_length:
        lines.append(
            "ORACLE LENGTH: every prediction was held to its reference's length (Lake & Baroni 2018), "
            "so the end-of-sequence decision is not scored"
        )
    return lines


def breakdown_markdown(report: TranslationReport) -> str:
    """Markdown tables: exact match by action-sequence length and by command length, and the wrong
    predictions by kind of error."""
    parts = []
    for of, title in (("target", "action-sequence length"), ("source", "command length (words)")):
        parts.append(f"| {title} | pairs | correct | exact match |\n|---:|---:|---:|---:|")
        for b in report.by_length(of):
            parts.append(f"| {b.length} | {b.count} | {b.correct} | {b.exact_match:.1%} |")
        parts.append("")
    parts.append("| error (wrong predictions) | count | share |\n|---|---:|---:|")
    parts.extend(f"| {c.kind} | {c.count} | {c.share:.1%} |" for c in report.errors())
    parts.append(
        f"\nwrong predictions of the right length: {report.wrong_with_right_length} of {len(report.wrong)}\n"
    )
    return "\n".join(parts)


def results_json(report: TranslationReport) -> str:
    """The scores and both breakdowns as JSON."""
    results = {
        "split": report.split,
        "decoding": report.decoding,
        "oracle_length": report.oracle_length,
        "pairs": len(report.examples),
        "exact_match": report.exact_match,
        "token_accuracy": report.token_accuracy,
        "seconds": report.seconds,
        "by_action_length": [b.__dict__ for b in report.by_length("target")],
        "by_command_length": [b.__dict__ for b in report.by_length("source")],
        "errors": [c.__dict__ for c in report.errors()],
        "wrong_with_right_length": report.wrong_with_right_length,
    }
    return json.dumps(results, indent=2)


def wrong_predictions_tsv(report: TranslationReport) -> str:
    """One line per wrong prediction: command, expected, predicted, both lengths in actions, the error."""
    rows = ["command\texpected\tpredicted\texpected_length\tpredicted_length\terror"]
    for e in report.wrong:
        lengths = f"{len(e.reference.split())}\t{len(e.prediction.split())}"
        rows.append(f"{e.source}\t{e.reference}\t{e.prediction}\t{lengths}\t{e.error}")
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
