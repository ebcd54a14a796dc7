"""A run directory survives bad resumes, torn writes and a wrong --out: nothing lost, nothing bricked."""

import logging
import stat

import pytest

from lmlab.cli.main import main
from lmlab.config import apply_overrides
from lmlab.errors import LmlabError
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train

from .conftest import tiny_config


@pytest.fixture
def finished_run(tmp_path):
    return train(tiny_config(), tmp_path / "run", progress=False).run


@pytest.mark.parametrize(
    "change", ["model.n_layer=3", "model.block_size=64", "model.n_embd=48", "data.tokenizer=bpe"]
)
def test_a_resume_that_changes_the_model_or_data_is_refused_and_leaves_the_run_intact(finished_run, change):
    before = {p: p.read_bytes() for p in finished_run.path.rglob("*") if p.is_file() and p.name != ".lock"}
    config = apply_overrides(finished_run.config(), [change, "train.max_steps=12"])
    with pytest.raises(LmlabError, match=f"cannot change {change.split('=')[0]}"):
        train(config, finished_run.path, resume=True, progress=False)
    after = {p: p.read_bytes() for p in finished_run.path.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before
    assert main(["sample", str(finished_run.path), "--max-new-tokens", "5", "--seed", "0"]) == 0
    regularised = ["train.max_steps=12", "model.dropout=0.1", "model.attention_dropout=0"]
    longer = apply_overrides(finished_run.config(), regularised)
    train(longer, finished_run.path, resume=True, progress=False)  # training settings may change
    assert [r["step"] for r in finished_run.metrics()] == [0, 4, 8, 12]


def test_weights_of_another_shape_give_one_line(finished_run):
    config = finished_run.config_file.read_text().replace('"block_size": 16', '"block_size": 8')
    assert config != finished_run.config_file.read_text()
    finished_run.config_file.write_text(config)
    with pytest.raises(LmlabError, match="does not fit the model in config.json"):
        from lmlab.runs.run_dir import load_model

        load_model(finished_run)


def test_a_torn_last_metrics_line_is_dropped_on_read_and_repaired_on_resume(finished_run, caplog, capsys):
    complete = finished_run.metrics()
    with finished_run.metrics_file.open("a") as f:
        f.write('{"step": 12, "train_lo')  # an append cut off by a kill
    assert finished_run.metrics() == complete
    assert "torn last line" in caplog.text
    assert main(["plot", str(finished_run.path)]) == 0
    config = apply_overrides(finished_run.config(), ["train.max_steps=12"])
    train(config, finished_run.path, resume=True, progress=False)
    lines = finished_run.metrics_file.read_text().splitlines()
    assert [r["step"] for r in finished_run.metrics()] == [0, 4, 8, 12] and len(lines) == 4


def test_out_refuses_a_folder_of_someone_elses_files_and_a_file(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(LmlabError, match="is a folder that is not an lmlab run"):
        train(tiny_config(), mine, progress=False)
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "config.json").write_text('{"learning_rate": 3}')
    with pytest.raises(LmlabError, match="holds a config.json that is not an lmlab run's"):
        train(tiny_config(), tmp_path / "theirs", progress=False)
    assert (tmp_path / "theirs" / "config.json").read_text() == '{"learning_rate": 3}'
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    assert main(["train", "shakespeare-char-cpu", "--out", str(tmp_path / "file"), "--quiet"]) == 2


def test_the_files_of_a_run_share_one_permission(finished_run):
    files = [
        finished_run.config_file,
        finished_run.tokenizer_file,
        finished_run.metrics_file,
        finished_run.last_checkpoint / "model.safetensors",
        finished_run.last_checkpoint / "state.json",
    ]
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    assert len(set(modes.values())) == 1, modes


def test_a_damaged_last_checkpoint_names_the_way_out_and_resume_continues_from_best(finished_run, capsys):
    (finished_run.last_checkpoint / "state.json").write_text("{ torn")
    assert main(["train", "--resume", str(finished_run.path), "--set", "train.max_steps=12"]) == 2
    assert "--checkpoint best" in capsys.readouterr().err
    best = finished_run.checkpoint_step("best")
    code = main(["train", "--resume", str(finished_run.path), "--checkpoint", "best", "--quiet",
                 "--set", "train.max_steps=12"])  # fmt: skip
    assert code == 0
    assert [r["step"] for r in finished_run.metrics()] == [*range(0, best + 1, 4), *range(best + 4, 13, 4)]
    assert main(["train", "shakespeare-char-cpu", "--checkpoint", "best"]) == 2


def test_threads_are_chosen_by_model_size_and_given_back(tmp_path, caplog):
    import torch

    from lmlab.training.threads import TINY_MODEL_PARAMETERS, choose_threads, free_cores

    assert choose_threads(0, TINY_MODEL_PARAMETERS - 1, 8, free=8) == 1
    assert choose_threads(0, TINY_MODEL_PARAMETERS, 8, free=8) == 8
    assert choose_threads(0, TINY_MODEL_PARAMETERS, 8, free=3) == 3  # five cores busy elsewhere
    assert choose_threads(3, 10, 8, free=1) == 3  # train.threads decides when set
    assert 1 <= free_cores(2) <= 2
    caplog.set_level(logging.INFO, logger="lmlab")
    before = torch.get_num_threads()
    train(tiny_config("train.threads=1", "train.max_steps=2"), tmp_path / "run", progress=False)
    assert "1 torch thread" in caplog.text
    assert torch.get_num_threads() == before


def test_a_run_remembers_its_data_dir_for_eval(tmp_path, monkeypatch, capsys):
    from .conftest import SHARED_DATA

    run = train(tiny_config(), tmp_path / "run", data_dir=SHARED_DATA, progress=False).run
    assert run.data_dir() == SHARED_DATA
    monkeypatch.delenv("LMLAB_DATA_DIR")  # and the cache is empty: only data.json can find the corpus
    assert main(["eval", str(run.path), "--splits", "val"]) == 0
    assert "val" in capsys.readouterr().out
    (run.path / "data.json").unlink()
    assert main(["eval", str(run.path), "--splits", "val"]) != 0  # without it, eval goes to download
    assert "tried to reach the network" in capsys.readouterr().err


def test_a_write_killed_before_the_first_checkpoint_leaves_no_foreign_file(tmp_path):
    """write_atomic's temporary file (a kill mid-write) is the run's own, not someone else's."""
    path = tmp_path / "run"
    path.mkdir()
    (path / "train.log").write_text("started\n")
    (path / ".config.json.49lfl3sa").write_text("{")
    train(tiny_config(), path, progress=False)
    assert RunDir(path).is_finished(8)
