"""Sweeps: summary metrics, tables with the best in bold, plots, and restarting a killed sweep."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmlab.cli.main import main
from lmlab.errors import LmlabError
from lmlab.experiments.results import collect
from lmlab.experiments.summary import aggregate, summarize_run
from lmlab.experiments.sweep import SweepSpec, expand
from lmlab.models import build_model
from lmlab.models.params import count_parameters
from lmlab.recipes import load_recipe, recipe_names
from lmlab.reports.sweep_tables import table, table_caption, write_tables
from lmlab.reports.tables import Cell, Column, to_latex, to_markdown
from lmlab.runs.run_dir import RunDir

from .conftest import with_vocab

TINY = [
    "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=16",
    "--set", "data.p=5", "--set", "train.max_steps=12", "--set", "train.eval_interval=4",
    "--set", "train.device=cpu",
]  # fmt: skip

RECORDS = [
    {"step": 0, "train_loss": 3.0, "val_loss": 3.0, "train_acc": 0.0, "val_acc": 0.0},
    {"step": 10, "train_loss": 1.0, "val_loss": 2.5, "train_acc": 1.0, "val_acc": 0.1},
    {"step": 20, "train_loss": 0.5, "val_loss": 2.0, "train_acc": 1.0, "val_acc": 0.6},
    {"step": 30, "train_loss": 0.5, "val_loss": 0.2, "train_acc": 1.0, "val_acc": 1.0},
    {"step": 40, "train_loss": 0.4, "val_loss": 0.3, "train_acc": 1.0, "val_acc": 1.0},
]


def test_summary_metrics_follow_the_seed_definitions():
    s = summarize_run(RECORDS)
    assert (s["L_train"], s["tf_L_train"]) == (0.4, 40)
    assert (s["L_val"], s["tf_L_val"]) == (0.2, 30)
    assert (s["A_train"], s["tf_A_train"]) == (1.0, 10)  # the first step reaching the best value
    assert (s["A_val"], s["tf_A_val"]) == (1.0, 30)
    assert s["dt_L"] == 30 - 40 and s["dt_A"] == 30 - 10
    budget = summarize_run(RECORDS, max_step=20)  # α = 0.5 of T = 40: the later steps do not count
    assert (budget["L_val"], budget["A_val"], budget["tf_A_val"]) == (2.0, 0.6, 20)


def test_aggregate_is_mean_and_population_std_over_seeds():
    other = [dict(r, val_acc=acc) for r, acc in zip(RECORDS, [0.0, 0.5, 1.0, 1.0, 1.0], strict=True)]
    result = aggregate([summarize_run(RECORDS), summarize_run(other)])
    assert result["A_val"].mean == 1.0 and result["A_val"].std == 0.0
    assert result["tf_A_val"].mean == 25 and result["tf_A_val"].std == 5  # steps 30 and 20
    assert result["tf_A_val"].n == 2


def test_tables_put_the_best_of_each_metric_column_in_bold():
    columns = [Column("model"), Column("L_val", "min"), Column("A_val", "max")]
    rows = [
        [Cell("gpt"), Cell("0.1000 ± 0.0100", 0.1), Cell("0.9", 0.9)],
        [Cell("lstm_x"), Cell("0.2000 ± 0.0100", 0.2), Cell("1.0", 1.0)],
    ]
    markdown = to_markdown(columns, rows)
    assert "| gpt | **0.1000 ± 0.0100** | 0.9 |" in markdown
    assert "| lstm_x | 0.2000 ± 0.0100 | **1.0** |" in markdown
    latex = to_latex(columns, rows, "Caption with Δt")
    assert "\\textbf{0.1000 $\\pm$ 0.0100}" in latex and "\\textbf{1.0}" in latex
    assert "lstm\\_x" in latex and "$\\Delta$t" in latex and "\\toprule" in latex


def test_every_recipe_expands_to_valid_configs():
    assert {"arith-sanity", "arith-data-fraction", "arith-model-size", "arith-batch-size",
            "arith-weight-decay", "arith-orders"} <= set(recipe_names())  # fmt: skip
    sizes = {name: len(expand(load_recipe(name))) for name in recipe_names()}
    assert sizes["arith-sanity"] == 4 and sizes["arith-data-fraction"] == 2 * 9 * 2
    assert sizes["arith-model-size"] == 2 * 3 * 3 * 2 and sizes["arith-weight-decay"] == 4 * 2
    model_size = {
        (r.point["preset"], r.point["model.n_embd"]): r.config
        for r in expand(load_recipe("arith-model-size"))
    }
    assert model_size[("arith-lstm", "64")].model.lstm_hidden == 64  # the LSTM's hidden size follows d
    seeds = expand(load_recipe("arith-sanity"))
    assert {(r.config.train.seed, r.config.data.split_seed) for r in seeds} == {(0, 0), (42, 42)}
    assert load_recipe("arith-batch-size").budget_fractions[0] == 0.1


def test_a_bad_recipe_or_grid_gets_one_line(capsys, tmp_path):
    with pytest.raises(LmlabError, match="neither a recipe"):
        load_recipe("no-such-thing")
    assert main(["sweep", "arith-gpt", "--grid", "model.n_layer", "--out", str(tmp_path)]) == 2
    assert "KEY=V1,V2" in capsys.readouterr().err
    assert main(["sweep", "arith-gpt", "--grid", "model.n_layers=1,2", "--out", str(tmp_path)]) == 2
    assert "did you mean model.n_layer" in capsys.readouterr().err
    with pytest.raises(LmlabError, match="seed"):
        SweepSpec(preset="arith-gpt", seeds=())


def test_sweep_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "arith-gpt", "--grid", "model.n_embd=8,16", "--seeds", "0,1", "--workers", "2",
            "--budget-fractions", "0.5,1", "--out", str(out), *TINY]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| n_embd | α | P |" in printed.replace("model.n_embd", "n_embd")
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["n_embd=16_seed=0", "n_embd=16_seed=1", "n_embd=8_seed=0", "n_embd=8_seed=1"]
    assert all((out / "runs" / r / "train.log").read_text().count("step 12:") == 1 for r in runs)
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("model.n_embd,budget_fraction,non_embedding_parameters,seeds,L_train_mean")
    assert len(csv_lines) == 1 + 2 * 2  # two widths at two budgets
    assert (out / "summary.tex").read_text().count("\\textbf") >= 10
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["curves.png", "summary.png", "summary_vs_parameters.png"]
    assert all((out / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in plots)
    # a different sweep into the same folder is refused instead of mixing runs
    assert main(["sweep", "arith-gpt", "--grid", "model.n_embd=8,32", "--out", str(out), *TINY]) == 2


def _start_sweep(out: Path, grid: str, workers: int, *settings: str) -> tuple[list[str], dict]:
    """The command line and environment of a tiny sweep run as its own process."""
    extra = [item for setting in settings for item in ("--set", setting)]
    args = [sys.executable, "-m", "lmlab", "sweep", "arith-gpt", "--grid", grid, "--workers", str(workers),
            "--out", str(out), *TINY, *extra]  # fmt: skip
    return args, {**os.environ, "OMP_NUM_THREADS": "1"}


def _step_of(run: Path) -> int:
    state = run / "checkpoints" / "last" / "state.json"
    return json.loads(state.read_text())["step"] if state.exists() else -1


def test_a_killed_sweep_restarts_with_only_the_missing_runs(tmp_path):
    out = tmp_path / "sweep"
    args, env = _start_sweep(
        out, "data.r_train=0.3,0.5,0.7", 1, "train.max_steps=200", "train.eval_interval=50"
    )
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = out / "runs" / "r_train=0.3_seed=0"
    deadline = time.monotonic() + 300
    while _step_of(first) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert RunDir(first).is_finished(200), "the first run should have finished before the kill"
    finished_metrics = (first / "metrics.jsonl").read_text()
    unfinished = [out / "runs" / f"r_train={r}_seed=0" for r in ("0.5", "0.7")]
    assert not any(RunDir(run).is_finished(200) for run in unfinished)

    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "r_train=0.3_seed=0: already finished" in again.stdout
    assert "r_train=0.5_seed=0: trained" in again.stdout and "r_train=0.7_seed=0: trained" in again.stdout
    assert (first / "metrics.jsonl").read_text() == finished_metrics  # not trained again
    for run in unfinished:
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == [0, 50, 100, 150, 200] and RunDir(run).is_finished(200)
    assert math.isfinite(float((out / "summary.csv").read_text().splitlines()[1].split(",")[4]))


def test_workers_stop_when_the_sweep_process_is_killed(tmp_path):
    out = tmp_path / "sweep"
    args, env = _start_sweep(
        out, "data.r_train=0.3,0.5", 2, "train.max_steps=100000", "train.eval_interval=5"
    )
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = [out / "runs" / f"r_train={r}_seed=0" for r in ("0.3", "0.5")]
    deadline = time.monotonic() + 300
    while not all(_step_of(run) >= 10 for run in runs) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(4)  # the workers notice within a second
    sizes = [(run / "metrics.jsonl").stat().st_size for run in runs]
    time.sleep(3)
    assert [(run / "metrics.jsonl").stat().st_size for run in runs] == sizes, "orphaned workers kept training"


NEVER = [dict(r, val_acc=min(r["val_acc"], 0.5)) for r in RECORDS]  # memorises, never generalises
SMALL = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "train.max_steps=40"]


def fake_sweep(out: Path, spec: SweepSpec, records_of) -> None:
    """Run folders as `lmlab sweep` leaves them, with made-up metrics: records_of(run) -> its records."""
    for run in expand(spec):
        folder = RunDir(out / "runs" / run.name)
        folder.path.mkdir(parents=True)
        folder.config_file.write_text(with_vocab(run.config, 37).to_json())
        for record in records_of(run):
            folder.append_metrics(record)


def test_the_compute_column_is_p_times_b_times_t(tmp_path):
    spec = SweepSpec(preset="arith-gpt", grid={"train.batch_size": ["32", "64"]}, overrides=tuple(SMALL),
                     budget_fractions=(0.5, 1.0))  # fmt: skip
    fake_sweep(tmp_path, spec, lambda run: RECORDS)
    results = collect(spec, tmp_path)
    model = with_vocab(expand(spec)[0].config, 37).model
    P = count_parameters(build_model(model)).non_embedding
    assert {(r.point["train.batch_size"], r.budget, r.compute) for r in results} == {
        ("32", 0.5, P * 32 * 20), ("32", 1.0, P * 32 * 40), ("64", 0.5, P * 64 * 20), ("64", 1.0, P * 64 * 40)
    }  # fmt: skip
    columns, rows = table(spec, results)
    c = [col.name for col in columns].index("C = P·B·T")
    assert [row[c].text for row in rows] == [f"{P * b * t:.3g}" for b in (32, 64) for t in (20, 40)]
    assert columns[c].best is None  # a cost, not a score: never bold
    csv = write_tables(spec, results, tmp_path)[2].read_text().splitlines()
    # α = 0.5 stops at step 20, before val accuracy reaches 0.9: t_f(A_val) and both Δt missed, once
    assert csv[1].endswith(f",all,32,20,{P * 32 * 20},0,1,1,1")


def test_a_t_f_never_reached_reads_not_reached_and_is_never_bold(tmp_path):
    spec = SweepSpec(preset="arith-gpt", grid={"train.weight_decay": ["0.5", "1"]}, seeds=(0, 1),
                     overrides=tuple(SMALL))  # fmt: skip
    # weight decay 1 generalises on both seeds; 0.5 on seed 1 only
    fake_sweep(tmp_path, spec, lambda run: NEVER if run.point["train.weight_decay"] == "0.5" and run.seed == 0
               else RECORDS)  # fmt: skip
    half = aggregate([summarize_run(NEVER), summarize_run(RECORDS)])
    assert (half["tf_A_val"].mean, half["tf_A_val"].n, half["tf_A_val"].unreached) == (30, 1, 1)
    assert half["tf_A_train"].unreached == 0  # it did memorise: that t_f stands
    never = aggregate([summarize_run(NEVER)] * 2)
    assert never["tf_A_val"].n == 0 and never["dt_A"].unreached == never["dt_L"].unreached == 2
    markdown = write_tables(spec, collect(spec, tmp_path), tmp_path)[0].read_text()
    cells = [
        [c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines() if line[:2] == "| "
    ]
    rows = {row[0]: row for row in cells}
    header = rows["train.weight_decay"]
    tf_a_val, dt_a = header.index("t_f(A_val)"), header.index("Δt(A)")
    assert rows["0.5"][tf_a_val] == "30 (not reached by 1 of 2)"
    assert rows["1"][tf_a_val] == "**30 ± 0**"  # the only point every seed reached is the best
    assert rows["0.5"][dt_a] == "20 (not reached by 1 of 2)"
    assert "**not reached" not in markdown and "not reached" in markdown
    latex = (tmp_path / "summary.tex").read_text()
    assert "\\textbf{30 $\\pm$ 0}" in latex and "\\textbf{30 (not" not in latex
    spec_never = SweepSpec(preset="arith-gpt", grid={"train.weight_decay": ["0.25"]}, overrides=tuple(SMALL))
    fake_sweep(tmp_path / "never", spec_never, lambda run: NEVER)
    columns, (row,) = table(spec_never, collect(spec_never, tmp_path / "never"))
    cells = {col.name: cell for col, cell in zip(columns, row, strict=True)}
    for name in ("t_f(A_val)", "Δt(A)", "Δt(L)"):
        assert cells[name].text == "not reached" and cells[name].value is None
    assert cells["t_f(A_train)"].text == "10"


def test_mixed_orders_get_a_row_per_order(tmp_path):
    spec = load_recipe("arith-orders")
    spec = SweepSpec(spec.preset, spec.grid, (0,), (*spec.overrides, *SMALL))

    def records(run):  # binary learnt by step 20, ternary by 30; the LSTM's ternary never
        ternary = 0.5 if run.point["preset"] == "arith-lstm" else 1.0
        orders = [
            {"val_acc_order2": min(1.0, r["val_acc"] * 2), "val_acc_order3": r["val_acc"] * ternary,
             "val_loss_order2": r["val_loss"] / 2, "val_loss_order3": r["val_loss"] * 2}
            for r in RECORDS
        ]  # fmt: skip
        return [r | o for r, o in zip(RECORDS, orders, strict=True)]

    fake_sweep(tmp_path, spec, records)
    results = collect(spec, tmp_path)
    assert sorted(results[0].groups) == ["order2", "order3"]
    columns, rows = table(spec, results)
    names = [c.name for c in columns]
    assert names[:2] == ["preset", "group"]
    cells = {(row[0].text, row[1].text): row for row in rows}
    assert sorted(cells) == [(p, g) for p in ("arith-gpt", "arith-lstm") for g in ("all", "order2", "order3")]
    tf_a_val, l_val = names.index("t_f(A_val)"), names.index("L_val")
    assert cells[("arith-gpt", "order2")][tf_a_val].text == "20"
    assert cells[("arith-gpt", "order3")][tf_a_val].text == "30"
    assert cells[("arith-lstm", "order3")][tf_a_val].text == "not reached"
    assert cells[("arith-gpt", "order3")][l_val].text == "0.4000"  # 2 × the lowest val loss, 0.2
    assert "order3 ternary" in table_caption(spec, grouped=True)
