"""Reports: one self-contained HTML page and a folder of LaTeX pieces for a run, a sweep or a comparison.

OUT/index.html        figures embedded as data URIs, opens offline in any browser
OUT/latex/report.tex  \\input{}s the pieces beside it: summary.tex, config.tex, ... and figures
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from lmlab.errors import LmlabError
from lmlab.reports.compare_report import compare_report, is_comparison
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
    """Report on the run (config.json), sweep (sweep.json) or comparison (results.json and results.md
    of `lmlab compare --out`) in `path`, into `out` (default path/report)."""
    kind = _kind(path)
    options = options or ReportOptions()
    if kind != "run":
        _refuse_run_options(path, kind, options)
    out = out or path / "report"
    made = not out.exists()  # removed again if the report fails: a refused report leaves no files
    try:
        return _write(path, out, kind, options)
    except BaseException:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _kind(path: Path) -> str:
    if (path / "sweep.json").is_file():
        return "sweep"
    if (path / "config.json").is_file():
        return "run"
    if is_comparison(path):
        return "comparison"
    raise LmlabError(
        f"{path} holds no config.json (a run), sweep.json (a sweep) or results.json and results.md (a "
        "comparison); pass a run directory made by `lmlab train`, a sweep folder made by `lmlab sweep` "
        "or a compare folder made by `lmlab compare --out`"
    )


def _refuse_run_options(path: Path, kind: str, options: ReportOptions) -> None:
    """A sweep's or comparison's report loads no checkpoint and samples nothing: run flags do not apply."""
    given = [
        flag
        for flag, is_given in (
            ("--temperature", options.temperatures is not None),
            ("--prompt", options.prompt is not None),
            ("--checkpoint", options.checkpoint != "best"),
            ("--data-dir", options.data_dir is not None),
            ("--device", options.device != "cpu"),
        )
        if is_given
    ]
    if given:
        raise LmlabError(
            f"{given[0]} applies to a run's report (its samples, predictions and attention); {path} is a "
            f"{kind} folder, whose report shows its runs' recorded scores and curves; leave {given[0]} out "
            "or report on one of its runs"
        )


def _write(path: Path, out: Path, kind: str, options: ReportOptions) -> ReportFiles:
    folder = out / "latex"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sweep":
        report = sweep_report(path, folder)
    elif kind == "comparison":
        report = compare_report(path, folder)
    else:
        report = run_report(RunDir(path), folder, options)
    html = out / "index.html"
    html.write_text(render_html(report), encoding="utf-8", errors="backslashreplace")  # a path's odd bytes
    return ReportFiles(html, write_latex(report, folder))
