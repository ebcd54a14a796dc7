"""The LaTeX pieces of a report: one `<section>.tex` per section and a `report.tex` that inputs them.

Each piece holds only floats and text (no \\section), so it can be \\input into a paper as it is;
`report.tex` adds the preamble and headings, and `pdflatex report.tex` in the folder compiles it.
Figures sit beside the pieces; a figure with a PDF version is included as PDF (vector graphics).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from lmlab.reports.document import Figure, Item, Paragraph, Report, Table, Verbatim
from lmlab.reports.tables import latex_escape, to_latex

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{fancyvrb}
"""
PAGE_WIDTH_CHARACTERS = 80  # a table row this long surely fits 17 cm of 11 pt text (bold cells are wider)
VERBATIM_WIDTH = 96  # characters per line that fit a \small verbatim box on an A4 page with 2 cm margins


def write_latex(report: Report, folder: Path) -> list[Path]:
    """Write every section's piece and report.tex into `folder` (where the figures already are)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for section in report.sections:
        path = folder / f"{section.name}.tex"
        text = "\n".join(_item(item, folder) for item in section.items)
        path.write_text(text, encoding="utf-8", errors="backslashreplace")  # a path's undecodable bytes
        paths.append(path)
    document = [
        PREAMBLE,
        f"\\title{{{latex_escape(report.title)}}}",
        "\\author{}",
        "\\date{}",
        "\\begin{document}",
        "\\maketitle",
        f"\\noindent {latex_escape(report.subtitle)}",
        "",
    ]
    for section in report.sections:
        document += [f"\\section{{{latex_escape(section.title)}}}", f"\\input{{{section.name}}}", ""]
    document.append("\\end{document}")
    paths.append(folder / "report.tex")
    paths[-1].write_text("\n".join(document) + "\n", encoding="utf-8", errors="backslashreplace")
    return paths


def _item(item: Item, folder: Path) -> str:
    if isinstance(item, Table):
        latex = to_latex(item.columns, item.rows, item.caption)
        if _width_in_characters(item) <= PAGE_WIDTH_CHARACTERS:
            return latex
        # a sweep's table of mean ± std columns: scaled down to the page instead of running off it
        latex = latex.replace("\\begin{tabular}", "\\resizebox{\\linewidth}{!}{\\begin{tabular}")
        return latex.replace("\\end{tabular}", "\\end{tabular}}")
    if isinstance(item, Figure):
        graphic = Path(os.path.relpath(item.pdf or item.png, folder)).as_posix()
        return "\n".join(
            [
                "\\begin{figure}[ht]",
                "\\centering",
                f"\\includegraphics[width=\\linewidth,height=0.8\\textheight,keepaspectratio]{{{graphic}}}",
                f"\\caption{{{latex_escape(item.caption)}}}",
                "\\end{figure}",
                "",
            ]
        )
    if isinstance(item, Verbatim):
        return "\n".join(
            [
                f"\\paragraph{{{latex_escape(item.caption)}}}",
                "\\begin{Verbatim}[fontsize=\\small,frame=single]",
                _verbatim_text(item.text),
                "\\end{Verbatim}",
                "",
            ]
        )
    assert isinstance(item, Paragraph), item
    return latex_escape(item.text) + "\n"


def _width_in_characters(table: Table) -> int:
    """The widest cell of each column (its header included) plus room for the gaps, summed."""
    widths = [len(c.name) for c in table.columns]
    for row in table.rows:
        widths = [max(w, len(cell.text)) for w, cell in zip(widths, row, strict=True)]
    return sum(w + 2 for w in widths)


def _verbatim_text(text: str) -> str:
    """ASCII only (pdflatex's verbatim cannot set other characters), long lines broken to fit the page."""
    ascii_text = text.encode("ascii", "replace").decode("ascii").replace("\t", "    ")
    lines = []
    for line in ascii_text.split("\n"):
        if len(line) <= VERBATIM_WIDTH:
            lines.append(line)
        else:  # break between words, the continuation indented under the line it belongs to
            lines += textwrap.wrap(line, VERBATIM_WIDTH, subsequent_indent="    ", break_on_hyphens=False)
    # a sample that happens to spell the environment's end would close it early
    return "\n".join(lines).replace("\\end{Verbatim}", "\\end {Verbatim}")
