"""What every plot module shares: user text made safe for matplotlib, and a figure saved to a path.

Figures are `matplotlib.figure.Figure` objects built without pyplot, so importing lmlab never changes
a notebook's backend; they render inline in Jupyter and save to any format matplotlib knows.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import matplotlib.figure
from matplotlib.backend_bases import FigureCanvasBase

from lmlab.errors import LmlabError

FORMATS = tuple(sorted(FigureCanvasBase.get_supported_filetypes()))  # png, pdf, svg, ...
ORDER_NAMES = {2: "binary", 3: "ternary"}


class Figure(matplotlib.figure.Figure):
    """matplotlib's Figure that Jupyter shows as a PNG when it is a cell's value, even where pyplot (whose
    inline backend registers figures with IPython) was never imported."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def group_title(group: str) -> str:
    """How a figure names a metrics group: "order3" -> "ternary (order 3)"; others as they are."""
    match = re.fullmatch(r"order(\d+)", group)
    if not match:
        return group
    order = int(match.group(1))
    return f"{ORDER_NAMES.get(order, f'order-{order}')} (order {order})"


def text(label: Any) -> str:
    """`label` as a string matplotlib shows literally: every `$` escaped, so no mathtext is parsed, and
    undecodable bytes of a file name (lone surrogates, which the font code refuses) as `\\udcff` escapes."""
    return str(label).encode("utf-8", "backslashreplace").decode().replace("$", r"\$")


def check_format(path: Path) -> None:
    """Raises LmlabError unless matplotlib can write a file with path's extension."""
    if path.suffix.lower().lstrip(".") not in FORMATS:
        raise LmlabError(f"cannot write a figure to {path}: use one of the extensions {', '.join(FORMATS)}")


def save_figure(fig: Figure, path: Path, **savefig: Any) -> Path:
    """Writes fig to path (parent folders made; savefig options such as dpi passed on); returns path.

    The figure stays open: it belongs to the caller, and one figure may be saved in several formats.
    """
    check_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig)
    return path
