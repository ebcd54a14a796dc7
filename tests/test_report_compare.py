"""`lmlab report` on a compare folder (summary table, every curve on one figure, each entry's summary),
the run report's samples at the temperatures asked for, and the flags a report refuses in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.errors import LmlabError
from lmlab.experiments.compare import compare
from lmlab.presets import load_preset
from lmlab.reports import ReportOptions, write_report
from lmlab.reports.comparison import write_comparison
from lmlab.runs.trainer import train

from .conftest import SHARED_DATA, TINY
from .test_report import check_latex, check_page

ENTRIES = ["shakespeare-char-cpu", "shakespeare-char-cpu:model.n_layer=1"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Path:
    """Two tiny text runs that differ in model.n_layer, compared as `lmlab compare --out` does."""
    out = tmp_path_factory.mktemp("compare") / "cmp"
    rows = compare(ENTRIES, [*TINY, "train.max_steps=4"], out, data_dir=SHARED_DATA, progress=False)
    write_comparison(rows, out)
    return out


def test_compare_folder_report(compared, tmp_path):
    files = write_report(compared, tmp_path / "report")
    page = check_page(files.html, images=1, tables=3)  # every curve; the summary and one table per entry
    assert page.tables[0][:5] == ["run", "kind", "tokenizer", "parameters", "model.n_layer"]  # as results.md
    html = files.html.read_text()
    assert all(f"Entry {entry}." in html for entry in ENTRIES)  # each entry's own summary
    assert "model.n_layer=1" in html and "model.n_layer=2" in html  # what each entry changed
    folder = tmp_path / "report" / "latex"
    pieces = check_latex(folder, {"report.tex", "summary.tex", "curves.tex", "entries.tex", "curves.pdf"})
    assert "model.n\\_layer" in pieces and pieces.count("\\textbf{") == 1  # the lowest bits per character
    summary = (folder / "summary.tex").read_text()
    assert all(entry.replace("_", "\\_") in summary for entry in ENTRIES)


def test_cli_reports_a_compare_folder(compared, tmp_path, capsys):
    assert main(["report", str(compared), "--out", str(tmp_path / "r")]) == 0
    assert "index.html" in capsys.readouterr().out
    assert (tmp_path / "r" / "latex" / "entries.tex").is_file()


@pytest.mark.parametrize("flags", [["--temperature", "1.5"], ["--prompt", "First"], ["--checkpoint", "last"]])
def test_run_flags_are_refused_on_a_compare_folder(compared, tmp_path, capsys, flags):
    assert main(["report", str(compared), "--out", str(tmp_path / "r"), *flags]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{flags[0]} applies to a run's report" in error
    assert "comparison folder" in error and not (tmp_path / "r").exists()


def test_a_folder_with_no_compared_runs_gets_one_line(tmp_path, capsys):
    (tmp_path / "results.md").write_text("| run |\n|---|\n")
    (tmp_path / "results.json").write_text("[]")
    assert main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "lists no runs" in error and not (tmp_path / "report").exists()


def test_samples_at_the_temperatures_asked_for_repeat_with_the_seed(compared, tmp_path, capsys):
    run = compared / "shakespeare-char-cpu"
    args = ["report", str(run), "--out", str(tmp_path / "cli"), "--temperature", "1.5,0.1"]
    assert main([*args, "--data-dir", str(SHARED_DATA)]) == 0
    capsys.readouterr()
    samples = (tmp_path / "cli" / "latex" / "samples.tex").read_text()
    assert samples.count("\\begin{Verbatim}") == 2
    assert "Temperature 1.5, seed 0" in samples and "Temperature 0.1, seed 0" in samples
    html = (tmp_path / "cli" / "index.html").read_text()
    assert "Temperature 1.5, seed 0" in html and "Temperature 0.1, seed 0" in html
    # the same seed (0, ReportOptions' default) again: the same text
    options = ReportOptions(data_dir=SHARED_DATA, temperatures=(1.5, 0.1))
    write_report(run, tmp_path / "api", options)
    assert (tmp_path / "api" / "latex" / "samples.tex").read_text() == samples


@pytest.mark.parametrize("value", ["0", "nan", "-1", "inf", "abc", "1.5,,0.1", "1.5,0"])
def test_temperatures_that_give_no_sample_are_refused(compared, tmp_path, capsys, value):
    run = compared / "shakespeare-char-cpu"
    assert main(["report", str(run), "--out", str(tmp_path / "r"), "--temperature", value]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--temperature takes finite numbers > 0" in error
    assert not (tmp_path / "r").exists()


def test_the_library_refuses_a_zero_temperature_too(compared, tmp_path):
    options = ReportOptions(data_dir=SHARED_DATA, temperatures=(1.0, 0.0))
    with pytest.raises(LmlabError, match="finite numbers > 0"):
        write_report(compared / "shakespeare-char-cpu", tmp_path / "r", options)
    assert not (tmp_path / "r").exists()


def test_a_pair_task_report_refuses_temperature(tmp_path, capsys):
    """Its predictions are greedy decoding of the test split: there is no sample to temper."""
    settings = ["model.n_layer=1", "model.n_head=2", "model.n_embd=8", "data.p=5", "train.max_steps=2",
                "train.eval_interval=1", "train.eval_steps=1", "train.device=cpu"]  # fmt: skip
    train(apply_overrides(load_preset("arith-gpt"), settings), tmp_path / "run", progress=False)
    capsys.readouterr()  # the training log, when an earlier test left a log handler on stderr
    assert main(["report", str(tmp_path / "run"), "--temperature", "1.0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pair-task run" in error and "lmlab eval" in error
    assert not (tmp_path / "run" / "report").exists()


def test_results_json_keeps_the_compare_rows(compared):
    """The report reads the rows compare wrote: every field, the differing hyperparameters included."""
    rows = json.loads((compared / "results.json").read_text())
    assert [r["hyperparameters"] for r in rows] == [{"model.n_layer": 2}, {"model.n_layer": 1}]
