"""One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no outside resources.

The page opens offline in any browser and can be mailed as a single file.
"""

from __future__ import annotations

import base64
from html import escape

from lmlab import __version__
from lmlab.reports.document import Figure, Item, Paragraph, Report, Section, Table, Verbatim
from lmlab.reports.tables import best_rows

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d232a;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { margin-bottom: 0.1em; }
.subtitle { color: #57606a; margin-top: 0; }
nav { margin: 1em 0 2em; padding: 0.6em 1em; background: #f6f8fa; border-radius: 6px; }
nav a { margin-right: 1.2em; color: #0b5cad; text-decoration: none; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.88em; }
caption { caption-side: top; text-align: left; color: #57606a; padding-bottom: 0.4em; max-width: 60em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e8ec; }
.wide { overflow-x: auto; }
thead th { border-bottom: 2px solid #1d232a; border-top: 2px solid #1d232a; }
tbody tr:last-child td { border-bottom: 2px solid #1d232a; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l, th.l { text-align: left; white-space: nowrap; }
figure { margin: 0.6em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e8ec; }
figcaption { color: #57606a; font-size: 0.92em; }
pre { background: #f6f8fa; padding: 0.8em 1em; border-radius: 6px; font-size: 0.88em;
      white-space: pre-wrap; overflow-wrap: anywhere; }
h3 { font-size: 1em; margin-bottom: 0.2em; }
#config .wide, #scan_breakdown .wide { display: inline-block; vertical-align: top; margin-right: 2.5em; }
footer { margin-top: 3em; color: #8c959f; font-size: 0.85em; }
"""


def render_html(report: Report) -> str:
    """The whole page as one string."""
    nav = " ".join(f'<a href="#{escape(s.name)}">{escape(s.title)}</a>' for s in report.sections)
    body = "\n".join(_section(s) for s in report.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(report.title)}</h1>\n"
        f'<p class="subtitle">{escape(report.subtitle)}</p>\n'
        f"<nav>{nav}</nav>\n{body}\n"
        f"<footer>Written by lmlab {escape(__version__)} (<code>lmlab report</code>).</footer>\n"
        "</body>\n</html>\n"
    )


def _section(section: Section) -> str:
    items = "\n".join(_item(item) for item in section.items)
    return f'<section id="{escape(section.name)}">\n<h2>{escape(section.title)}</h2>\n{items}\n</section>'


def _item(item: Item) -> str:
    if isinstance(item, Table):
        return table_html(item)
    if isinstance(item, Figure):
        data = base64.b64encode(item.png.read_bytes()).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{escape(item.caption)}">'
            f"<figcaption>{escape(item.caption)}</figcaption></figure>"
        )
    if isinstance(item, Verbatim):
        return f"<h3>{escape(item.caption)}</h3>\n<pre>{escape(item.text)}</pre>"
    assert isinstance(item, Paragraph), item
    return f"<p>{escape(item.text)}</p>"


def table_html(table: Table) -> str:
    """A <table> with its caption, a <thead> of <th> cells, and the best cell of each column in bold."""
    best = best_rows(table.columns, table.rows)
    header = "".join(f'<th class="{c.alignment}">{escape(c.name)}</th>' for c in table.columns)
    rows = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, (column, cell) in enumerate(zip(table.columns, row, strict=True)):
            text = escape(cell.text).replace(" ± ", " ±&nbsp;")  # a narrow column breaks before ±
            cells.append(f'<td class="{column.alignment}">{f"<b>{text}</b>" if i in best[j] else text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "\n".join(rows)
    return (
        f'<div class="wide"><table>\n<caption>{escape(table.caption)}</caption>\n'
        f"<thead><tr>{header}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table></div>"
    )
