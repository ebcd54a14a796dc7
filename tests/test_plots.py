"""Figures: built without pyplot, saved as real PNGs, user text shown literally, bad extensions refused."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure

from lmlab.errors import LmlabError
from lmlab.evaluation.translation import Example, TranslationReport
from lmlab.experiments.results import PointResult
from lmlab.experiments.summary import aggregate, summarize_run
from lmlab.experiments.sweep import SweepSpec
from lmlab.plots import attention, breakdown, curves, scales, sweep
from lmlab.plots.figures import save_figure, text

PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = ["price$5^$", r"$\frac$", "a $b$ c", "trailing\\"]  # mathtext would parse or crash on these
RECORDS = [
    {"step": 0, "train_loss": 3.0, "val_loss": 3.0, "train_acc": 0.0, "val_acc": 0.0, "param_norm": 9.0},
    {"step": 10, "train_loss": 1.0, "val_loss": 2.5, "train_acc": 1.0, "val_acc": 0.1, "param_norm": 9.5},
    {"step": 20, "train_loss": 0.5, "val_loss": 2.0, "train_acc": 1.0, "val_acc": 0.6, "param_norm": 9.8},
    {"step": 40, "train_loss": 0.4, "val_loss": 0.3, "train_acc": 1.0, "val_acc": 1.0, "param_norm": 10.0},
]
LOSS_ONLY = [{k: r[k] for k in ("step", "train_loss", "val_loss")} for r in RECORDS]


def check_png(fig: Figure, path: Path, n_axes: int) -> None:
    assert isinstance(fig, Figure) and len(fig.axes) == n_axes
    assert save_figure(fig, path, dpi=30) == path  # a coarse picture draws every label just the same
    check_png_file(path)


def check_png_file(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > len(PNG) and data[: len(PNG)] == PNG


def scan_report(split: str = "length", decoding: str = "greedy") -> TranslationReport:
    examples = [
        Example("jump", "JUMP", "JUMP"),
        Example("jump twice", "JUMP JUMP", "JUMP"),
        Example("walk and jump", "WALK JUMP", "WALK JUMP"),
    ]
    return TranslationReport(split, decoding, examples, seconds=0.1)


def attentions(n_layer: int, n_head: int, T: int) -> torch.Tensor:
    scores = torch.randn(n_layer, n_head, T, T, generator=torch.Generator().manual_seed(0))
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)  # (n_layer, n_head, T, T)


def sweep_results(presets: list[str]) -> tuple[SweepSpec, list[PointResult]]:
    """Two presets × two widths at two budget fractions, two seeds each, with made-up curves."""
    spec = SweepSpec(
        preset="arith-gpt",
        grid={"preset": presets, "model.n_embd": ["8", "16"]},
        seeds=(0, 1),
        budget_fractions=(0.5, 1.0),
        name=HOSTILE[0],
    )
    results = []
    for i, preset in enumerate(presets):
        for width in (8, 16):
            seeds = [[dict(r, val_loss=r["val_loss"] * (1 + 0.1 * s + 0.01 * width)) for r in RECORDS]
                     for s in range(2)]  # fmt: skip
            for budget in spec.budget_fractions:
                metrics = aggregate([summarize_run(c, max_step=budget * 40) for c in seeds])
                point = {"preset": preset, "model.n_embd": str(width)}
                results.append(PointResult(point, budget, (i + 1) * width**2, metrics, seeds))
    return spec, results


def test_text_escapes_every_dollar_and_leaves_the_rest():
    assert text("price$5^$") == r"price\$5^\$" and text(3) == "3" and text("a_b^c") == "a_b^c"


@pytest.mark.parametrize("with_accuracy", [True, False])
def test_loss_curves_figure_has_one_panel_per_metric(with_accuracy, tmp_path):
    records = RECORDS if with_accuracy else LOSS_ONLY
    fig = curves.loss_curves_figure({"a": records, "b": records}, title="two runs")
    check_png(fig, tmp_path / "curves.png", n_axes=2 if with_accuracy else 1)
    out = tmp_path / "deeper" / "curves.png"
    assert curves.plot_loss_curves({"a": records}, out) == out
    check_png_file(out)


def test_breakdown_figure_has_two_panels(tmp_path):
    check_png(breakdown.breakdown_figure(scan_report()), tmp_path / "breakdown.png", n_axes=2)
    out = tmp_path / "breakdown.pdf"
    assert breakdown.plot_breakdown(scan_report(), out) == out and out.read_bytes()[:5] == b"%PDF-"


def test_attention_figures_have_one_axes_per_head_and_a_colour_bar(tmp_path):
    tokens = ["R", "O", " ", "\n", "$"]
    grid = attention.attention_grid_figure(attentions(2, 3, 5), tokens, "grid")
    check_png(grid, tmp_path / "grid.png", n_axes=2 * 3 + 1)

    # the outer edges carry the token labels; inner panels none, so no labels run into a neighbour
    def labelled(ax, axis):
        return any(t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")())

    assert [labelled(ax, "y") for ax in grid.axes[:6]] == [True, False, False] * 2
    assert [labelled(ax, "x") for ax in grid.axes[:6]] == [False] * 3 + [True] * 3
    frames = [(f"step {s}", attentions(2, 3, 5)) for s in (0, 4)]
    over = attention.attention_over_training_figure(frames, tokens, "over training")
    check_png(over, tmp_path / "over.png", n_axes=2 * 2 * 3 + 1)
    for plot, data in ((attention.plot_attention_grid, attentions(1, 2, 5)),
                       (attention.plot_attention_over_training, frames)):  # fmt: skip
        out = tmp_path / "written" / f"{plot.__name__}.png"
        assert plot(data, tokens, "title", out) == out
        check_png_file(out)


def test_sweep_figures_are_keyed_by_file_stem(tmp_path):
    spec, results = sweep_results(["arith-gpt", "arith-lstm"])
    figures = sweep.sweep_figures(spec, results)
    stems = [f"curves_preset={p}" for p in ("arith-gpt", "arith-lstm")]
    stems += [f"summary_preset={p}" for p in ("arith-gpt", "arith-lstm")] + ["summary_vs_parameters"]
    assert sorted(figures) == sorted(stems)
    # curves: 5 panels on a 2 × 3 grid; summaries: 2 × 4; both with a colour bar (width or α)
    n_axes = {"curves": 6 + 1, "summary": 8 + 1, "summary_vs_parameters": 8}
    assert {stem: len(fig.axes) for stem, fig in figures.items()} == {
        stem: n_axes[stem.rsplit("_preset", 1)[0]] for stem in stems
    }
    assert all(isinstance(fig, Figure) for fig in figures.values())
    paths = sweep.plot_sweep(spec, results, tmp_path / "plots")
    assert sorted(p.stem for p in paths) == sorted(stems)
    for path in paths:
        check_png_file(path)


def test_mathtext_hostile_user_text_saves(tmp_path):
    runs = {name: RECORDS for name in HOSTILE}
    for title in HOSTILE:
        check_png(curves.loss_curves_figure(runs, title), tmp_path / "curves.png", n_axes=2)
    check_png(curves.loss_curves_figure(runs), tmp_path / "default_title.png", n_axes=2)
    report = scan_report(split=HOSTILE[0], decoding=HOSTILE[1])
    check_png(breakdown.breakdown_figure(report), tmp_path / "breakdown.png", n_axes=2)
    tokens = ["$", "x", "^", "$", "\\"]
    grid = attention.attention_grid_figure(attentions(1, 1, 5), tokens, HOSTILE[1])
    check_png(grid, tmp_path / "grid.png", n_axes=2)
    frames = [(name, attentions(1, 1, 5)) for name in HOSTILE]
    over = attention.attention_over_training_figure(frames, tokens, HOSTILE[0])
    check_png(over, tmp_path / "over.png", n_axes=len(HOSTILE) + 1)
    spec, results = sweep_results(HOSTILE[:2])
    for stem, fig in sweep.sweep_figures(spec, results).items():
        check_png(fig, tmp_path / f"{stem}.png", n_axes=len(fig.axes))


@pytest.mark.parametrize("name", ["x.txt", "x", "x.png.bak"])
def test_an_extension_matplotlib_cannot_write_is_refused_before_drawing(name, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("drew a figure for a file it cannot write")

    monkeypatch.setattr(curves, "loss_curves_figure", never)
    with pytest.raises(LmlabError, match=r"png.*svg|svg.*png") as error:
        curves.plot_loss_curves({"a": RECORDS}, tmp_path / name)
    assert "\n" not in str(error.value) and "pdf" in str(error.value)
    with pytest.raises(LmlabError, match="png"):
        breakdown.plot_breakdown(scan_report(), tmp_path / name)
    with pytest.raises(LmlabError, match="png"):
        save_figure(Figure(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_importing_the_plots_leaves_the_backend_alone():
    code = (
        "import matplotlib, sys\n"
        "matplotlib.use('svg')\n"
        "import lmlab, lmlab.plots.attention, lmlab.plots.breakdown, lmlab.plots.curves\n"
        "import lmlab.plots.figures, lmlab.plots.sweep\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["svg", "False"]


ORDERS = [
    dict(r, **{f"{split}_{m}_order{o}": r[f"{split}_{m}"] * (1 if o == 2 else 0.5)
               for split in ("train", "val") for m in ("loss", "acc") for o in (2, 3)})
    for r in RECORDS
]  # fmt: skip  # ternary: half the loss and half the accuracy of binary


def grid_results(spec: SweepSpec, records=RECORDS) -> list[PointResult]:
    """A PointResult per grid point and budget, two seeds of made-up curves, P growing with the point."""
    keys = list(spec.grid)
    results = []
    for i, values in enumerate(itertools.product(*spec.grid.values())):
        seeds = [
            [dict(r, val_loss=r["val_loss"] * (1 + 0.1 * s + 0.01 * i)) for r in records] for s in (0, 1)
        ]
        for budget in spec.budget_fractions:
            metrics = aggregate([summarize_run(c, max_step=budget * 40) for c in seeds])
            results.append(
                PointResult(dict(zip(keys, values, strict=True)), budget, 100 * (i + 1), metrics, seeds)
            )
    return results


def bar_ticks(fig: Figure) -> list[str]:
    """The tick labels of a figure's colour bar (its last axes)."""
    return [t.get_text() for t in fig.axes[-1].get_yticklabels()]


def test_a_run_of_mixed_orders_gets_binary_and_ternary_rows(tmp_path):
    fig = curves.loss_curves_figure({"gpt": ORDERS})
    assert len(fig.axes) == 3 * 2  # all, binary, ternary × loss, accuracy
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[2:] == ["Training and validation loss: binary (order 2) equations",
                          "Training and validation accuracy: binary (order 2) equations",
                          "Training and validation loss: ternary (order 3) equations",
                          "Training and validation accuracy: ternary (order 3) equations"]  # fmt: skip
    val_acc = [line for line in fig.axes[5].get_lines() if line.get_label() == "gpt val"][0]
    assert list(val_acc.get_ydata()) == [r["val_acc"] * 0.5 for r in RECORDS]
    check_png(fig, tmp_path / "orders.png", n_axes=6)


def test_a_sweep_of_mixed_orders_draws_each_order_curves():
    spec = SweepSpec(preset="arith-gpt", grid={"preset": ["arith-gpt", "arith-lstm"]}, seeds=(0, 1))
    figures = sweep.sweep_figures(spec, grid_results(spec, ORDERS))
    assert sorted(figures) == ["curves", "curves_order2", "curves_order3", "summary_vs_parameters"]
    ternary = figures["curves_order3"]
    assert [ax.get_title() for ax in ternary.axes] == [
        "train loss L_train(t)", "val loss L_val(t)", "train accuracy A_train(t)", "val accuracy A_val(t)"
    ]  # fmt: skip
    assert "ternary (order 3) curves" in ternary.get_suptitle()
    gpt_val_acc = ternary.axes[3].get_lines()[0]
    assert gpt_val_acc.get_label() == "preset=arith-gpt"
    assert list(gpt_val_acc.get_ydata()) == [r["val_acc"] * 0.5 for r in RECORDS]


def test_model_size_summaries_put_the_layers_on_a_colour_bar():
    """The arithmetic assignment's question 5: metric against d (log2), one colour per L, per model."""
    grid = {"preset": ["arith-gpt", "arith-lstm"], "model.n_layer": ["1", "2", "3"],
            "model.n_embd": ["64", "128", "256"]}  # fmt: skip
    spec = SweepSpec(preset="arith-gpt", grid=grid, seeds=(0, 1))
    figures = sweep.sweep_figures(spec, grid_results(spec))
    summaries = sorted(stem for stem in figures if stem.startswith("summary_preset"))
    assert summaries == ["summary_preset=arith-gpt", "summary_preset=arith-lstm"]
    assert "summary_vs_parameters" in figures
    for stem in summaries:
        fig = figures[stem]
        assert len(fig.axes) == 8 + 1
        bar = fig.axes[-1]
        assert bar_ticks(fig) == ["1", "2", "3"] and bar.get_yscale() == "linear"
        assert bar.get_ylabel() == "n_layer"
        panel = fig.axes[1]  # L_val against d: one line per L, log2 x ticked at the widths
        assert panel.get_xscale() == "log" and panel.get_yscale() == "log"
        assert [t.get_text() for t in panel.get_xticklabels()] == ["64", "128", "256"]
        assert len({tuple(bars.lines[0].get_color()) for bars in panel.containers}) == 3
    curves_stems = sorted(stem for stem in figures if stem.startswith("curves"))
    assert len(curves_stems) == 2 * 3 and "curves_preset=arith-lstm_n_layer=2" in curves_stems
    assert bar_ticks(figures["curves_preset=arith-gpt_n_layer=1"]) == ["64", "128", "256"]


def test_log2_colour_bars_tick_at_the_swept_values():
    grid = {"preset": ["arith-gpt"], "train.batch_size": ["32", "64", "128", "256", "512"]}
    spec = SweepSpec(preset="arith-gpt", grid=grid, seeds=(0, 1), budget_fractions=(0.5, 1.0))
    figures = sweep.sweep_figures(spec, grid_results(spec))
    bar = figures["curves_preset=arith-gpt"].axes[-1]
    assert bar.get_yscale() == "log" and bar.get_ylabel() == "batch_size (log2 scale)"
    assert bar_ticks(figures["curves_preset=arith-gpt"]) == ["32", "64", "128", "256", "512"]
    assert len(bar.yaxis.get_minorticklocs()) == 0  # no 7×10¹-style decade subticks
    summary = figures["summary_preset=arith-gpt"]
    assert bar_ticks(summary) == ["0.5", "1"]  # α on the summaries' colour bar
    assert summary.axes[0].get_xscale() == "log"
    assert [t.get_text() for t in summary.axes[0].get_xticklabels()] == ["32", "64", "128", "256", "512"]
    assert scales.is_log2("model.n_layer", [1, 2, 4]) and not scales.is_log2("model.n_layer", [1, 2, 3])
    assert not scales.is_log2("train.weight_decay", [0.25, 0.5, 0.75, 1.0])


def test_a_point_some_seed_never_reached_is_left_out_of_the_summaries():
    never = [dict(r, val_acc=min(r["val_acc"], 0.5)) for r in RECORDS]
    spec = SweepSpec(preset="arith-gpt", grid={"train.weight_decay": ["0.5", "1"]}, seeds=(0, 1))
    results = grid_results(spec)
    results[0] = PointResult(results[0].point, 1.0, 100, aggregate([summarize_run(never)] * 2), [never] * 2)
    panel = sweep.summary_figures(spec, results)["summary"].axes[7]  # t_f(A_val)
    assert panel.get_title() == "t_f(A_val)"
    (bars,) = panel.containers  # one errorbar series, its data line first
    line = bars.lines[0]
    assert list(line.get_xdata()) == [1.0] and list(line.get_ydata()) == [40]
