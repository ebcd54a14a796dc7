"""data.windows=all: every stride-1 window of a text corpus once an epoch, the BPE assignment's split."""

import math
import random

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.data.batches import make_batches
from lmlab.errors import LmlabError
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

from .conftest import TINY

T, B = 16, 8  # TINY's block size; a batch that does not divide the epoch


@pytest.fixture
def play(tmp_path):
    """240 characters whose windows all differ, so a window tells where it starts."""
    rng = random.Random(0)
    path = tmp_path / "play.txt"
    path.write_text("".join(rng.choice("abcdefg \n") for _ in range(240)))
    return path


def all_windows(play, *extra):
    overrides = [f"data.data_file={play}", "data.windows=all", "data.train_fraction=0.8"]
    return apply_overrides(load_preset("text"), [*overrides, f"train.batch_size={B}", *extra], shared=TINY)


def text_ids(play) -> torch.Tensor:
    data = make_batches(all_windows(play))
    return torch.tensor(data.tokenizer.encode(play.read_text()))


def window_starts(inputs: torch.Tensor, ids: torch.Tensor) -> list[int]:
    """Where in `ids` each row of `inputs` starts."""
    starts = {tuple(ids[s : s + T].tolist()): s for s in range(len(ids) - T)}
    assert len(starts) == len(ids) - T
    return [starts[tuple(row.tolist())] for row in inputs]


def test_the_split_is_the_assignments_and_every_val_window_is_scored_in_order(play):
    data = make_batches(all_windows(play))
    ids = text_ids(play)
    n = int(0.8 * (len(ids) - T))
    assert data.epoch_size == n and data.window_count("val") == len(ids) - T - n
    assert torch.equal(data.corpus.train.long(), ids[: n + T])
    assert torch.equal(data.corpus.val.long(), ids[n:])
    val = list(data.loss_batches("val", 1, seed=0))
    inputs = torch.cat([b.inputs for b in val])
    targets = torch.cat([b.targets for b in val])
    assert window_starts(inputs, ids) == list(range(n, len(ids) - T))
    assert torch.equal(targets[:, :-1], inputs[:, 1:]) and len(val) == math.ceil(len(inputs) / B)
    assert any("every stride-1 window of 16 tokens" in line for line in data.describe())


def test_an_epoch_reads_every_train_window_once_in_a_seeded_order(play):
    data, ids = make_batches(all_windows(play)), text_ids(play)
    n = data.epoch_size
    rows = torch.cat([data.train_batch(k, torch.Generator()).inputs for k in range(math.ceil(2 * n / B) + 1)])
    first, second = window_starts(rows[:n], ids), window_starts(rows[n : 2 * n], ids)
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert first != second and first != sorted(first)
    again = make_batches(all_windows(play))  # a fresh source (a resumed run) reads the same stream
    assert torch.equal(again.train_batch(3, torch.Generator()).inputs, rows[3 * B : 4 * B])
    other = make_batches(all_windows(play, "train.seed=7"))
    assert not torch.equal(other.train_batch(0, torch.Generator()).inputs, rows[:B])


def test_max_epochs_counts_windows_and_the_val_loss_covers_every_val_window(tmp_path, play):
    config = all_windows(play, "train.max_epochs=2", "train.eval_interval_epochs=1")
    train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    n = make_batches(config).epoch_size
    assert run.config().train.max_steps == math.ceil(2 * n / B)
    records = run.metrics()
    assert [r["step"] for r in records] == [0, math.ceil(n / B), math.ceil(2 * n / B)]
    assert 1 <= records[1]["epoch"] < 1 + B / n
    _, _, model = load_model(run, "last")
    val = make_batches(config).corpus.val.long()
    starts = torch.arange(len(val) - T)[:, None] + torch.arange(T)
    with torch.no_grad():
        logits = model(val[starts])
    expected = F.cross_entropy(logits.flatten(0, 1), val[starts + 1].flatten()).item()
    assert records[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)


def test_resume_continues_the_epochs_exactly(tmp_path, play):
    config = all_windows(play, "model.dropout=0.1", "train.max_epochs=2", "train.eval_interval_epochs=1")
    train(config, tmp_path / "straight", progress=False)
    assert train(config, tmp_path / "resumed", stop_after_step=7, progress=False).step == 7
    train(config, tmp_path / "resumed", resume=True, progress=False)
    straight, resumed = RunDir(tmp_path / "straight"), RunDir(tmp_path / "resumed")
    a, b = (load_file(r.last_checkpoint / "model.safetensors") for r in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in straight.metrics()] == [r["val_loss"] for r in resumed.metrics()]


def test_epochs_of_random_windows_and_windows_on_pair_tasks_are_refused(tmp_path, play):
    random_windows = [f"data.data_file={play}", "train.max_epochs=1"]
    config = apply_overrides(load_preset("text"), random_windows, shared=TINY)
    with pytest.raises(LmlabError, match="has no epochs; set data.windows=all"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(LmlabError, match="data.windows applies to data.dataset=shakespeare|text, not scan"):
        apply_overrides(load_preset("scan-simple"), ["data.windows=all"])
    with pytest.raises(LmlabError, match="data.windows='every' is unknown"):
        apply_overrides(load_preset("text"), ["data.windows=every"])


def test_lmlab_data_counts_windows(play, capsys):
    overrides = [f"data.data_file={play}", "data.windows=all", "data.train_fraction=0.8"]
    sets = [arg for o in [*overrides, f"model.block_size={T}"] for arg in ("--set", o)]
    assert main(["data", "text", *sets]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    ids = text_ids(play)
    n = int(0.8 * (len(ids) - T))
    assert first.startswith(f"text: {n} train (an epoch) and {len(ids) - T - n} val windows of {T} tokens")
