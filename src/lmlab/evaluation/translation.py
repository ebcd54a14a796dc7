"""Scores of a pair-task model: exact match, token accuracy, and both by sequence length.

- exact match: the whole predicted action sequence equals the reference (SCAN's measure).
- token accuracy: position-wise agreement, counted over the longer of prediction and reference,
  so a missing or an extra token is an error too.
Breakdowns group the test pairs by the reference's length in actions and by the command's length
in words, the two axes along which SCAN's length split fails.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lmlab.data.scan import Pair
from lmlab.generation.translate import translate
from lmlab.runs.run_dir import write_atomic


@dataclass(frozen=True)
class Example:
    source: str
    reference: str
    prediction: str

    @property
    def correct(self) -> bool:
        return self.prediction == self.reference

    def token_matches(self) -> tuple[int, int]:
        """(positions that agree, positions counted = the longer of the two sequences)."""
        predicted, reference = self.prediction.split(), self.reference.split()
        agree = sum(p == r for p, r in zip(predicted, reference, strict=False))
        return agree, max(len(predicted), len(reference))


@dataclass(frozen=True)
class LengthBucket:
    length: int
    count: int
    correct: int

    @property
    def exact_match(self) -> float:
        return self.correct / self.count


@dataclass(frozen=True)
class TranslationReport:
    split: str
    decoding: str  # "greedy" or "beam 4"
    examples: list[Example]
    seconds: float  # decoding time

    @property
    def exact_match(self) -> float:
        return sum(e.correct for e in self.examples) / len(self.examples)

    @property
    def token_accuracy(self) -> float:
        matches = [e.token_matches() for e in self.examples]
        return sum(m for m, _ in matches) / max(1, sum(n for _, n in matches))

    def by_length(self, of: str) -> list[LengthBucket]:
        """Exact match per length of the reference ("target", in actions) or the command ("source")."""
        assert of in ("target", "source"), of
        groups: dict[int, list[bool]] = defaultdict(list)
        for e in self.examples:
            text = e.reference if of == "target" else e.source
            groups[len(text.split())].append(e.correct)
        return [LengthBucket(n, len(v), sum(v)) for n, v in sorted(groups.items())]

    @property
    def wrong(self) -> list[Example]:
        return [e for e in self.examples if not e.correct]


def evaluate_translation(
    model, tokenizer, pairs: list[Pair], split: str, beam_width: int = 1, batch_size: int = 512
) -> TranslationReport:
    """Decode every source of `pairs` and compare with its reference."""
    start = time.perf_counter()
    predictions = translate(model, tokenizer, [s for s, _ in pairs], beam_width, batch_size)
    seconds = time.perf_counter() - start
    examples = [Example(s, t, p) for (s, t), p in zip(pairs, predictions, strict=True)]
    decoding = "greedy" if beam_width == 1 else f"beam {beam_width}"
    return TranslationReport(split, decoding, examples, seconds)


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


def write_report(report: TranslationReport, out_dir: Path) -> dict[str, Path]:
    """summary.md, results.json, wrong_predictions.tsv and breakdown.png in out_dir."""
    from lmlab.plots.breakdown import plot_breakdown  # matplotlib only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out_dir / "summary.md",
        "results": out_dir / "results.json",
        "wrong": out_dir / "wrong_predictions.tsv",
        "plot": out_dir / "breakdown.png",
    }
    write_atomic(paths["summary"], "\n".join(summary_lines(report)) + "\n\n" + breakdown_markdown(report))
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
    write_atomic(paths["results"], json.dumps(results, indent=2))
    rows = ["command\texpected\tpredicted\texpected_length\tpredicted_length"]
    for e in report.wrong:
        rows.append(
            f"{e.source}\t{e.reference}\t{e.prediction}\t{len(e.reference.split())}\t{len(e.prediction.split())}"
        )
    write_atomic(paths["wrong"], "\n".join(rows) + "\n")
    plot_breakdown(report, paths["plot"])
    return paths
