"""`--log tensorboard` and `--log wandb`: the run's records read back from the trackers' own files."""

import json
import struct
import sys
from pathlib import Path

import pytest

from lmlab.cli.main import main
from lmlab.errors import LmlabError
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trackers import check_trackers, parse_trackers
from lmlab.runs.trainer import train

from .conftest import TINY, tiny_config

TINY_FLAGS = [a for o in TINY for a in ("--set", o)]


def _train(out: str, log: str, *flags: str) -> int:
    """`lmlab train` of the tiny model into `out` with `--log log`: its exit status."""
    return main(["train", "shakespeare-char-cpu", *TINY_FLAGS, "--out", out, "--log", log, *flags])


def _scalars(folder: Path) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of every events file in `folder`, as TensorBoard shows them (purged kept out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def test_tensorboard_holds_the_records_of_the_run(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert _train(str(out), "tensorboard", "--quiet") == 0
    run = RunDir(out)
    scalars = _scalars(out / "tensorboard")
    metrics = run.metrics()
    assert [r["step"] for r in metrics] == [0, 4, 8]
    for key in ("train_loss", "val_loss", "lr", "tokens"):
        assert scalars[f"eval/{key}"] == pytest.approx({r["step"]: r[key] for r in metrics}, rel=1e-6)
    assert scalars["train/loss"] == pytest.approx(
        {r["step"]: r["loss"] for r in run.train_losses()}, rel=1e-6
    )
    assert sorted(scalars["train/loss"]) == list(range(1, 9))


def test_a_resume_continues_the_curves_only_when_asked(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train(tiny_config(), out, progress=False, stop_after_step=6, trackers=("tensorboard",))
    # from `best` (step 4): the losses of steps 5 and 6 are logged again, the first ones hidden
    config = tiny_config("train.max_steps=8")
    train(config, out, resume=True, resume_from="best", progress=False, trackers="tensorboard")
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2  # one per logged session
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))  # each step once
    scalars = _scalars(out / "tensorboard")
    assert scalars["train/loss"] == pytest.approx({r["step"]: r["loss"] for r in RunDir(out).train_losses()})
    assert sorted(scalars["eval/val_loss"]) == [r["step"] for r in RunDir(out).metrics()]
    # a session without trackers adds nothing to the curves
    train(tiny_config("train.max_steps=10"), out, resume=True, progress=False)
    assert max(_scalars(out / "tensorboard")["train/loss"]) == 8


def _wandb_records(path: Path) -> list[dict]:
    """The history rows of an offline run's .wandb file (a leveldb-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2

    data, rows, pending, pos, block = path.read_bytes(), [], b"", 7, 32768
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # full or first; middle or last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            if record.WhichOneof("record_type") == "history":
                rows.append(
                    {
                        item.key or "/".join(item.nested_key): json.loads(item.value_json)
                        for item in record.history.item
                    }
                )
    return rows


@pytest.fixture
def wandb_offline(monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    for name, value in {"MODE": "offline", "SILENT": "true", "DIR": tmp_path / "wandb-dir"}.items():
        monkeypatch.setenv(f"WANDB_{name}", str(value))
    for name in ("CACHE_DIR", "CONFIG_DIR", "DATA_DIR", "ARTIFACT_DIR"):
        monkeypatch.setenv(f"WANDB_{name}", str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def test_wandb_offline_keeps_the_run_in_the_run_directory(tmp_path, wandb_offline):
    out = tmp_path / "run"
    assert _train(str(out), "wandb", "--quiet") == 0
    run_id = (out / "wandb" / "run_id").read_text().strip()
    (session,) = (out / "wandb").glob(f"offline-run-*-{run_id}")
    rows = _wandb_records(session / f"run-{run_id}.wandb")
    losses = {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}
    assert losses == pytest.approx({r["step"]: r["loss"] for r in RunDir(out).train_losses()})
    val = {row["step"]: row["eval/val_loss"] for row in rows if "eval/val_loss" in row}
    assert val == pytest.approx({r["step"]: r["val_loss"] for r in RunDir(out).metrics()})
    # a resume continues the same W&B run: a second offline session with the same id
    assert (
        main(["train", "--resume", str(out), "--set", "train.max_steps=10", "--log", "wandb", "--quiet"]) == 0
    )
    # (two sessions in the same second get wandb's "-1" suffix on the second folder)
    assert len(list((out / "wandb").glob(f"offline-run-*-{run_id}*"))) == 2


@pytest.mark.parametrize("names", ["tensorbord", "tensorboard,mlflow", ",", ""])
def test_an_unknown_tracker_is_refused_in_one_line(tmp_path, capsys, names):
    assert _train(str(tmp_path / "r"), names) == 2
    error = capsys.readouterr().err.strip()
    assert "choose tensorboard, wandb" in error and "\n" not in error
    assert not (tmp_path / "r").exists()


def test_trackers_are_parsed_from_text_or_names():
    assert parse_trackers("tensorboard, wandb,tensorboard") == ("tensorboard", "wandb")
    assert parse_trackers(["wandb"]) == ("wandb",)
    assert parse_trackers(None) == parse_trackers(()) == ()
    with pytest.raises(LmlabError, match="choose tensorboard, wandb"):
        parse_trackers(("comet",))


@pytest.mark.parametrize(
    ("name", "modules"), [("tensorboard", ["tensorboard", "torch.utils.tensorboard"]), ("wandb", ["wandb"])]
)
def test_a_missing_package_names_the_extra(monkeypatch, tmp_path, capsys, name, modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # `import` now raises ImportError
    with pytest.raises(LmlabError, match=rf"pip install 'lmlab\[{name}\]'"):
        check_trackers(name)
    assert _train(str(tmp_path / "r"), name) == 2
    error = capsys.readouterr().err.strip()
    assert f"--log {name} needs the {name} package" in error and "\n" not in error
    with pytest.raises(LmlabError, match="needs the"):
        train(tiny_config(), tmp_path / "r", progress=False, trackers=[name])
    assert not (tmp_path / "r").exists()
