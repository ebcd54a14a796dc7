"""Reports: one self-contained HTML page and a folder of LaTeX pieces for a run or a sweep.

OUT/index.html        figures embedded as data URIs, opens offline in any browser
OUT/latex/report.tex  \\input{}s the pieces beside it: summary.tex, config.tex, ... and figures
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.reports.html import render_html
from lmlab.reports.latex import write_latex
from lmlab.reports.run_report import ReportOptions, run_report
from lmlab.reports.sweep_report import sweep_report
from lmlab.runs.run_dir import RunDir

__all__ = ["ReportFiles", "ReportOptions", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    latex: list[Path]  # the pieces and report.tex (figures beside them)


def write_report(path: Path, out: Path | None = None, options: ReportOptions | None = None) -> ReportFiles:
    """Report on the run (config.json) or sweep (sweep.json) in `path`, into `out` (default path/report)."""
    is_sweep, is_run = (path / "sweep.json").is_file(), (path / "config.json").is_file()
    if not (is_sweep or is_run):
        raise LmlabError(
            f"{path} holds neither config.json nor sweep.json; pass a run directory made by `lmlab train` "
            "or a sweep folder made by `lmlab sweep`"
        )
    out = out or path / "report"
    made = not out.exists()  # removed again if the report fails: a refused report leaves no files
    try:
        return _write(path, out, is_sweep, options)
    except BaseException:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write(path: Path, out: Path, is_sweep: bool, options: ReportOptions | None) -> ReportFiles:
    folder = out / "latex"
    folder.mkdir(parents=True, exist_ok=True)
    if is_sweep:
        report = sweep_report(path, folder)
    else:
        report = run_report(RunDir(path), folder, options or ReportOptions())
    html = out / "index.html"
    html.write_text(render_html(report), encoding="utf-8", errors="backslashreplace")  # a path's odd bytes
    return ReportFiles(html, write_latex(report, folder))
