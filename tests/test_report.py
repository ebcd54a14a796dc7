"""Reports: a self-contained HTML page (every figure embedded, every table with a header) and LaTeX
pieces that report.tex inputs, for a text run, a SCAN run and a sweep."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data.corpus import load_corpus
from lmlab.evaluation.loss import evaluate_split
from lmlab.experiments.sweep import SweepSpec, check_same_sweep, expand
from lmlab.presets import load_preset
from lmlab.reports import ReportOptions, write_report
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, TINY, one_clause_file, tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ReportOptions(data_dir=SHARED_DATA, max_new_tokens=40)  # short samples: the page is tested


class Page(HTMLParser):
    """Every image source, every other link, and each table's header cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.tables: list[list[str]] = []  # the <th> texts inside each table's <thead>
        self.tags: set[str] = set()
        self._in_thead = self._in_th = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if tag == "img" and name == "src":
                self.images.append(value or "")
            elif name in ("src", "href"):
                self.links.append(value or "")
        if tag == "table":
            self.tables.append([])
        self._in_thead = self._in_thead or tag == "thead"
        if tag == "th" and self._in_thead:
            self.tables[-1].append("")
            self._in_th = True

    def handle_endtag(self, tag: str) -> None:
        self._in_thead = self._in_thead and tag != "thead"
        self._in_th = self._in_th and tag != "th"

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.tables[-1][-1] += data


def check_page(html: Path, images: int, tables: int) -> Page:
    """The page needs nothing but itself: PNG data URIs only, no outside links; tables have headers."""
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert len(page.images) >= images and len(page.tables) >= tables
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)[:8] == PNG_MAGIC
    assert all(link.startswith("#") for link in page.links), page.links  # in-page anchors only
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "url(" not in text and "@import" not in text  # no stylesheet fetches either
    for headers in page.tables:
        assert headers and any(h.strip() for h in headers), "every table has a <thead> of <th> cells"
    return page


def check_latex(folder: Path, expected: set[str]) -> str:
    """The expected files exist and everything report.tex inputs (and the pieces include) exists."""
    assert expected <= {p.name for p in folder.iterdir()}
    report = (folder / "report.tex").read_text()
    inputs = re.findall(r"\\input\{([^}]+)\}", report)
    assert inputs and all((folder / f"{name}.tex").is_file() for name in inputs)
    pieces = "".join((folder / f"{name}.tex").read_text() for name in inputs)
    graphics = re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", pieces)
    assert graphics and all((folder / g).is_file() for g in graphics)
    assert pieces.count("\\begin{tabular}") == pieces.count("\\toprule") > 0  # booktabs tables
    return pieces


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "run"
    train(tiny_config(), path, data_dir=SHARED_DATA, progress=False)  # module scope: before offline_data
    return path


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory) -> Path:
    """A barely trained GPT on SCAN's one-clause commands: most test predictions are wrong."""
    folder = tmp_path_factory.mktemp("scan")
    train_file = one_clause_file(folder)
    settings = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "train.batch_size=16",
                "train.max_steps=6", "train.eval_interval=3", "train.eval_steps=1", "train.device=cpu",
                f"data.train_file={train_file}"]  # fmt: skip
    train(apply_overrides(load_preset("scan-simple"), settings), folder / "run", progress=False)
    return folder / "run"


def test_text_run_report(text_run, tmp_path):
    files = write_report(text_run, tmp_path / "report", FAST)
    assert files.html == tmp_path / "report" / "index.html"
    page = check_page(files.html, images=2, tables=5)  # curves, attention; run, checkpoints, 3 config
    assert ["checkpoint", "step", "val loss (estimate)", "val loss (whole split)"] == page.tables[1][:4]
    folder = tmp_path / "report" / "latex"
    pieces = check_latex(folder, {"report.tex", "config.tex", "summary.tex", "samples.tex", "curves.png",
                                  "curves.pdf", "attention.png", "attention.pdf"})  # fmt: skip
    assert "model.n\\_embd & 32" in pieces  # the resolved config, keys escaped
    # the lowest whole-split val loss of the scored checkpoints is the one in bold
    _, tokenizer, _ = load_model(RunDir(text_run))
    val = load_corpus(tiny_config().data, None, tokenizer).split("val")
    losses = []
    for which in ("best", "last"):
        _, _, model = load_model(RunDir(text_run), which)
        losses.append(evaluate_split(model, val, 16, 64, next(model.parameters()).device).loss)
    assert f"\\textbf{{{min(losses):.4f}}}" in (folder / "summary.tex").read_text()
    samples = (folder / "samples.tex").read_text()
    assert samples.count("\\begin{Verbatim}") == 3 and "First Citizen:" in samples  # the corpus's first line
    # seeded samples and the same figures: a second report is identical
    again = write_report(text_run, tmp_path / "again", FAST)
    assert again.html.read_text() == files.html.read_text()


def test_scan_run_report_has_the_error_breakdown(scan_run, tmp_path, capsys):
    assert main(["report", str(scan_run), "--out", str(tmp_path / "r"), "--checkpoint", "last"]) == 0
    assert "index.html" in capsys.readouterr().out
    check_page(tmp_path / "r" / "index.html", images=3, tables=7)  # curves, breakdown, attention
    folder = tmp_path / "r" / "latex"
    expected = {"scan_breakdown.tex", "scan_breakdown.png", "scan_breakdown.pdf", "predictions.tex",
                "summary.tex", "config.tex", "attention.pdf"}  # fmt: skip
    pieces = check_latex(folder, expected)
    assert "test exact match" in pieces and "action-sequence length" in pieces
    assert "\\textbf{" in (folder / "summary.tex").read_text()
    assert "samples.tex" not in {p.name for p in folder.iterdir()}  # a pair task is decoded, not sampled


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_report_tex_compiles(text_run, tmp_path):
    write_report(text_run, tmp_path, FAST)
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path / "latex",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "latex" / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_sweep_report(tmp_path):
    out = tmp_path / "sweep"
    tiny = ["model.n_layer=1", "model.n_head=2", "data.p=5", "train.max_steps=8", "train.eval_interval=4",
            "train.device=cpu"]  # fmt: skip
    spec = SweepSpec(preset="arith-gpt", grid={"model.n_embd": ["8", "16"]}, overrides=tuple(tiny))
    out.mkdir()
    check_same_sweep(spec, out)  # records sweep.json, as `lmlab sweep` does
    for run in expand(spec):
        train(run.config, out / "runs" / run.name, progress=False)
    files = write_report(out)
    assert files.html == out / "report" / "index.html"
    page = check_page(files.html, images=3, tables=3)  # curves, summary, every run; three tables
    assert page.tables[0][:2] == ["model.n_embd", "P"]
    pieces = check_latex(out / "report" / "latex", {"summary.tex", "runs.tex", "plots.tex", "runs.pdf"})
    assert pieces.count("\\textbf{") >= 4 and "n\\_embd=16\\_seed=0" in pieces


def test_a_folder_that_is_none_of_the_three_gets_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no config.json (a run), sweep.json (a sweep) or results.json" in error
    assert "compare folder made by `lmlab compare --out`" in error
    assert not (tmp_path / "report").exists()


HOSTILE = "<script>alert('x')</script> 100% of $5^$ is \\frac{a}{b} & #1 ~_{} \\end{Verbatim} </pre>\n"


def test_hostile_corpus_text_stays_text_in_html_and_latex(tmp_path):
    """Markup, LaTeX specials and a Verbatim terminator in the corpus, the prompt and the run's name."""
    corpus = tmp_path / "hostile.txt"
    corpus.write_text(HOSTILE * 400)
    run = tmp_path / "price$5^$ <b>"
    settings = [f"data.data_file={corpus}", "model.block_size=32"]  # the prompt below fits
    config = apply_overrides(load_preset("text"), settings, shared=TINY)
    train(config, run, progress=False)
    options = ReportOptions(prompt="<script> \\end{Verbatim} 100% $5", max_new_tokens=40)
    files = write_report(run, tmp_path / "report", options)
    html = files.html.read_text()
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert "price$5^$ &lt;b&gt;" in html and "price$5^$ <b>" not in html  # the run's name too
    check_page(files.html, images=2, tables=5)
    folder = tmp_path / "report" / "latex"
    samples = (folder / "samples.tex").read_text()
    opened = samples.count("\\begin{Verbatim}")
    assert opened == samples.count("\\end{Verbatim}") == 3  # the corpus's own terminator cannot close one
    for piece in folder.glob("*.tex"):
        text = piece.read_text()
        outside = re.sub(r"\\begin\{Verbatim\}.*?\\end\{Verbatim\}", "", text, flags=re.S)
        assert "price$5" not in outside and not re.search(r"(?<!\\)%\s*of", outside), piece.name
