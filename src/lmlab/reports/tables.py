"""Tables of results as CSV, Markdown and LaTeX, the best value of each metric column in bold."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # header
    best: str | None = None  # "min" or "max": that column's best cell is bold; None: a label column
    align: str = ""  # "l" or "r"; default: metric columns right, label columns left

    @property
    def alignment(self) -> str:
        return self.align or ("r" if self.best else "l")


@dataclass(frozen=True)
class Cell:
    text: str  # as shown, e.g. "0.0012 ± 0.0003"
    value: float | None = None  # what "best" compares (the mean); None for labels and missing values


def best_rows(columns: list[Column], rows: list[list[Cell]]) -> list[set[int]]:
    """For each column, the indices of the rows holding its best value (empty for label columns)."""
    result = []
    for j, column in enumerate(columns):
        values = [(i, row[j].value) for i, row in enumerate(rows) if row[j].value is not None]
        if column.best is None or not values:
            result.append(set())
            continue
        target = min(v for _, v in values) if column.best == "min" else max(v for _, v in values)
        result.append({i for i, v in values if v == target})
    return result


def to_markdown(columns: list[Column], rows: list[list[Cell]]) -> str:
    best = best_rows(columns, rows)
    lines = [
        "| " + " | ".join(c.name for c in columns) + " |",
        "|" + "|".join("---:" if c.alignment == "r" else "---" for c in columns) + "|",
    ]
    for i, row in enumerate(rows):
        cells = [f"**{cell.text}**" if i in best[j] else cell.text for j, cell in enumerate(row)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def to_latex(columns: list[Column], rows: list[list[Cell]], caption: str) -> str:
    """A booktabs table; needs \\usepackage{booktabs} in the document."""
    best = best_rows(columns, rows)
    spec = "".join(c.alignment for c in columns)
    lines = [
        "\\begin{table}[ht]",
        "\\centering",
        f"\\caption{{{latex_escape(caption)}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c.name) for c in columns) + " \\\\",
        "\\midrule",
    ]
    for i, row in enumerate(rows):
        cells = [_latex_cell(cell.text, i in best[j]) for j, cell in enumerate(row)]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], records: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def _latex_cell(text: str, bold: bool) -> str:
    escaped = latex_escape(text)
    return f"\\textbf{{{escaped}}}" if bold else escaped


_LATEX_SPECIALS = {
    "\\": "\\textbackslash{}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    # symbols in lmlab's labels that pdflatex's utf8 input cannot typeset as text
    "±": "$\\pm$",
    "Δ": "$\\Delta$",
    "α": "$\\alpha$",
    "θ": "$\\theta$",
    "‖": "$\\|$",
    "₂": "$_2$",
    "−": "$-$",
    "×": "$\\times$",
    "·": "$\\cdot$",
    "→": "$\\rightarrow$",
}


def latex_escape(text: str) -> str:
    """`text` as LaTeX source that typesets it literally (one character at a time, so no double escapes)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)
