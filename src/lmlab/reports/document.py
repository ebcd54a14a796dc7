"""A report as plain data: sections of tables, figures and text, before any format is chosen.

The HTML page (lmlab.reports.html) and the LaTeX pieces (lmlab.reports.latex) both render this, so
the two always hold the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmlab.reports.tables import Cell, Column


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[Column]  # a column with `best` set gets its best cell in bold
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Figure:
    caption: str
    png: Path  # embedded in the HTML page
    pdf: Path | None = None  # preferred by the LaTeX pieces when there is one


@dataclass(frozen=True)
class Verbatim:
    caption: str
    text: str  # shown exactly, whitespace kept


@dataclass(frozen=True)
class Paragraph:
    text: str


Item = Table | Figure | Verbatim | Paragraph


@dataclass(frozen=True)
class Section:
    name: str  # the stem of its LaTeX piece (`summary` -> summary.tex) and the HTML anchor
    title: str
    items: list[Item]


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str  # one line under the title: what was measured, on which checkpoint
    sections: list[Section]


def key_value_table(caption: str, pairs: list[tuple[str, str]], header: tuple[str, str]) -> Table:
    """A two-column table of labels, nothing in bold."""
    columns = [Column(header[0]), Column(header[1])]
    return Table(caption, columns, [[Cell(key), Cell(value)] for key, value in pairs])
