"""Snapshots through training, attention at a step and over training, next-token tables, n-gram sizes."""

import math

import pytest
import torch
from matplotlib.image import imread

from lmlab.cli.main import main
from lmlab.generation.text_stream import TextStream
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train
from lmlab.tokenizers.bpe import BPETokenizer

from .conftest import SHARED_DATA, tiny_config

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    path = tmp_path_factory.mktemp("snap") / "run"
    # module scope runs before the autouse offline fixture: name the shared data folder itself
    train(tiny_config("train.snapshot_interval=4"), path, data_dir=SHARED_DATA, progress=False)
    return path


def test_snapshots_are_kept_every_k_steps_and_load(snapshotted):
    run = RunDir(snapshotted)
    assert run.snapshot_steps() == [0, 4, 8]
    _, _, at_four = load_model(run, "step-4")
    _, _, last = load_model(run, "last")
    _, _, at_eight = load_model(run, "step-8")
    first = next(iter(at_four.state_dict()))
    assert not torch.equal(at_four.state_dict()[first], last.state_dict()[first])
    for name, tensor in last.state_dict().items():
        torch.testing.assert_close(at_eight.state_dict()[name], tensor, rtol=0, atol=0)


def test_a_missing_snapshot_is_a_one_line_error(snapshotted, capsys):
    assert main(["attention", str(snapshotted), "--prompt", "ROMEO", "--step", "5"]) == 2
    err = capsys.readouterr().err
    assert "no snapshot at step 5" in err and "0, 4, 8" in err and "Traceback" not in err


def test_attention_at_a_step_and_over_training(snapshotted, tmp_path, capsys):
    at_step = tmp_path / "step4.png"
    assert (
        main(["attention", str(snapshotted), "--prompt", "ROMEO", "--step", "4", "--out", str(at_step)]) == 0
    )
    assert at_step.read_bytes()[:8] == PNG
    over = tmp_path / "over.png"
    args = ["attention", str(snapshotted), "--prompt", "ROMEO", "--over-training", "--out", str(over)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert [line.split(":")[0] for line in printed.splitlines()[-4:-1]] == ["step 0", "step 4", "step 8"]
    assert over.read_bytes()[:8] == PNG
    height, width = imread(over).shape[:2]
    assert width > height  # 3 kept steps (rows) x 4 layer-head columns


def test_over_training_without_snapshots_says_how_to_keep_them(tmp_path, capsys):
    train(tiny_config(), tmp_path / "run", progress=False)
    assert main(["attention", str(tmp_path / "run"), "--prompt", "A", "--over-training"]) == 2
    assert "train.snapshot_interval" in capsys.readouterr().err


def test_next_lists_the_likeliest_tokens_with_the_model_probabilities(snapshotted, capsys):
    assert main(["next", str(snapshotted), "--prompt", "ROMEO:", "--top", "65", "--checkpoint", "last"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:-1]]
    probabilities = [float(row[-1]) for row in rows]
    assert len(rows) == 65 and probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)
    config, tokenizer, model = load_model(RunDir(snapshotted), "last")
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode("ROMEO:")]))
    expected = torch.softmax(logits[0, -1], -1)
    assert int(rows[0][-2]) == int(expected.argmax())
    assert probabilities[0] == pytest.approx(float(expected.max()), abs=1e-4)


def test_info_ngram_counts_free_table_entries(capsys):
    assert main(["info", "ngram", "--vocab", "65", "--n", "3", "--model", "shakespeare-char"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()[0] in "123"}
    assert rows == {"1": "64", "2": "4,160", "3": "270,400"}  # 65^(n-1) * 64
    assert "10,745,088 parameters" in out
    assert main(["info", "ngram", "--n", "3"]) == 2


def test_bits_per_character_of_a_bpe_run(tmp_path, capsys):
    config = tiny_config("data.tokenizer=bpe", "data.bpe_vocab_size=300")
    train(config, tmp_path / "bpe", progress=False)
    assert RunDir(tmp_path / "bpe").tokenizer().vocab_size == 300
    assert main(["eval", str(tmp_path / "bpe"), "--splits", "val"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("val"))
    _, tokens, characters, loss, _, bits, bits_per_char = line.split()
    tokens, characters = int(tokens.replace(",", "")), int(characters.replace(",", ""))
    assert 1.3 * tokens < characters < 111_540  # 44 merges already make tokens 1.38 characters long
    assert float(bits_per_char) == pytest.approx(float(loss) * tokens / math.log(2) / characters, rel=1e-3)
    assert (
        main(["attention", str(tmp_path / "bpe"), "--prompt", "ROMEO: the king", "--checkpoint", "last"]) == 0
    )


def test_text_stream_never_splits_a_multibyte_character():
    tokenizer = BPETokenizer.fit("hello world, hello there " * 20, vocab_size=270)
    text = "héllo wörld ✓ — 日本"
    ids = tokenizer.encode(text)
    assert len(ids) > len(text)  # the non-ASCII characters are several byte tokens each
    text_stream = TextStream(tokenizer)
    pieces = [text_stream.push(i) for i in ids]
    assert "".join(pieces) + text_stream.flush() == text
    assert not any("\ufffd" in piece for piece in pieces)
