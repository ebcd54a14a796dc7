"""The notebook API (lmlab.train/load/compare, Run) and the progress bar written to a file."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import matplotlib.image
import pytest

import lmlab
from lmlab.cli.main import main
from lmlab.errors import LmlabError
from lmlab.training.progress import PlainProgress

from .conftest import SHARED_DATA, TINY

PRESET = "shakespeare-char-cpu"
# TINY as keywords: model.n_layer=2 -> model__n_layer="2"
TINY_KEYWORDS = {item.split("=")[0].replace(".", "__"): item.split("=")[1] for item in TINY}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMLAB_DATA_DIR", str(SHARED_DATA))
        patch.setenv("LMLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield lmlab.train(PRESET, tmp_path_factory.mktemp("api") / "run", progress=False, **TINY_KEYWORDS)


def test_train_returns_a_run_with_its_evaluations(run):
    metrics = run.metrics
    assert list(metrics["step"]) == [0, 4, 8]  # train.eval_interval=4 over 8 steps
    assert {"train_loss", "val_loss"} <= set(metrics.columns)
    assert list(run.train_loss["step"]) == list(range(1, 9))
    assert run.config.model.n_layer == 2 and (run.path / "loss.png").is_file()
    assert "step 8" in repr(run)


def test_load_reads_the_same_run(run):
    loaded = lmlab.load(run.path)
    assert loaded.metrics.equals(run.metrics) and loaded.config == run.config


def _png_pixels(png: bytes):
    assert png.startswith(b"\x89PNG")
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_plot_and_attention_are_figures_a_notebook_shows(run):
    pixels = _png_pixels(run.plot()._repr_png_())
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert _png_pixels(run.attention("To be")._repr_png_()).ndim == 3


def test_sample_with_a_seed_repeats(run):
    first = run.sample("ROMEO:", seed=3, max_new_tokens=20)
    assert first.startswith("ROMEO:") and first == run.sample("ROMEO:", seed=3, max_new_tokens=20)
    several = run.sample(seed=3, max_new_tokens=10, num_samples=2)
    assert isinstance(several, list) and len(several) == 2


def test_eval_gives_the_loss_the_cli_prints(run, capsys):
    score = run.eval("val")
    assert main(["eval", str(run.path), "--splits", "val"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("val "))
    assert row.split()[3] == f"{score.loss:.4f}"


def test_next_tokens_is_a_table_of_the_likeliest(run):
    table = run.next_tokens("To be", top=5)
    assert list(table.columns) == ["token", "id", "probability"] and len(table) == 5
    assert table["probability"].is_monotonic_decreasing


def test_compare_gives_one_row_per_entry(tmp_path):
    entries = [PRESET, f"{PRESET}:model.n_layer=1"]
    result = lmlab.compare(entries, tmp_path / "cmp", progress=False, **TINY_KEYWORDS)
    table = result.table
    assert list(table.index) == entries and table.loc[entries[1], "model.n_layer"] == 1
    assert set(result.runs) == set(entries) and "val" in result._repr_markdown_()


@pytest.mark.parametrize(
    "keywords",
    [{"max_steps": 3}, {"overrides": {"train.max_steps": 3}}, {"train.max_steps": 3}, {"optim__lr": 1}],
)
def test_a_keyword_that_is_not_section__key_is_refused_in_one_line(keywords, tmp_path):
    with pytest.raises(LmlabError, match="train__max_steps=200") as refused:
        lmlab.train(PRESET, tmp_path / "never", **keywords)
    assert "\n" not in str(refused.value) and not (tmp_path / "never").exists()


def test_without_pandas_tables_ask_for_the_extra(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(LmlabError, match=r"pip install 'lmlab\[notebook\]'"):
        _ = run.metrics


def test_importing_lmlab_loads_neither_torch_nor_matplotlib():
    script = (
        "import sys, lmlab; assert lmlab.__version__; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'pandas', 'tqdm'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


def test_plain_progress_prints_whole_lines_at_most_once_an_interval():
    stream = io.StringIO()
    bar = PlainProgress(total=1000, initial=0, stream=stream, interval=3600)
    for _ in range(1000):
        bar.update(1)
        bar.set_postfix(loss="1.2345", refresh=False)
    bar.close()
    assert stream.getvalue().splitlines() == [stream.getvalue().strip()]  # the closing line alone
    assert stream.getvalue().startswith("step 1000/1000 (100%)") and "loss=1.2345" in stream.getvalue()


def test_training_into_a_log_file_writes_few_lines(tmp_path):
    """`lmlab train ... 2> log`: not one bar update per step (200 steps), a few whole lines."""
    settings = [item for item in TINY if not item.startswith(("train.max_steps", "train.eval_interval"))]
    settings += ["train.max_steps=200", "train.eval_interval=100", "train.log_interval=10"]
    command = [sys.executable, "-m", "lmlab", "train", PRESET, "--out", str(tmp_path / "run")]
    command += [arg for item in settings for arg in ("--set", item)]
    log = tmp_path / "log"
    with log.open("w") as stderr:
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=stderr, timeout=300, env=os.environ)
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    assert "\r" not in text and len(text.splitlines()) < 30, text[-2000:]
    assert "step 200/200 (100%)" in text


def test_a_pair_run_evaluates_greedy_or_sampled_and_a_text_run_refuses_sampling(run, tmp_path):
    from .conftest import one_clause_file

    train_file = one_clause_file(tmp_path, limit=40)
    keywords = {**TINY_KEYWORDS, "model__block_size": "48", "data__train_file": str(train_file)}
    pairs = lmlab.train("scan-simple", tmp_path / "scan", progress=False, **keywords)
    greedy = pairs.eval("val")
    sampled = pairs.eval("val", temperature=1.0, seed=3)
    assert sampled.exact_match == pairs.eval("val", temperature=1.0, seed=3).exact_match  # seeded
    assert len(sampled.examples) == len(greedy.examples)
    assert pairs.eval("val", temperature=1e-4, seed=3).exact_match == greedy.exact_match  # all but greedy
    with pytest.raises(LmlabError, match="beam and temperature do not mix"):
        pairs.eval("val", temperature=1.0, beam=2)
    with pytest.raises(LmlabError, match="for pair tasks"):
        run.eval(temperature=1.0)
