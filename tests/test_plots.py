"""Figures: built without pyplot, saved as real PNGs, user text shown literally, bad extensions refused."""

from __future__ import annotations

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
from lmlab.plots import attention, breakdown, curves, sweep
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
