import subprocess
import sys

import pytest

from lmlab.cli.main import main
from lmlab.config import apply_overrides, key_applies
from lmlab.presets import load_preset
from lmlab.runs.trainer import train

from .conftest import TINY, tiny_config


@pytest.fixture
def trained(tmp_path):
    path = tmp_path / "tiny"
    train(tiny_config(), path, progress=False)
    return path


def test_train_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    overrides = [a for o in TINY for a in ("--set", o)]
    assert main(["train", "shakespeare-char-cpu", *overrides, "--out", str(out), "--quiet"]) == 0
    assert "finished at step 8" in capsys.readouterr().out
    assert (out / "loss.png").stat().st_size > 1000


def test_sample_streams_the_prompt_and_new_text(trained, capsys):
    args = [
        "sample",
        str(trained),
        "--prompt",
        "ROMEO:",
        "--max-new-tokens",
        "40",
        "--seed",
        "1",
        "--top-k",
        "10",
        "--top-p",
        "0.9",
        "--num-samples",
        "2",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    samples = first.split("\n" + "-" * 40 + "\n")
    assert len(samples) == 2 and all(s.startswith("ROMEO:") for s in samples)
    assert len(samples[0]) == len("ROMEO:") + 40 + 1  # and the closing newline
    assert main(args) == 0
    assert capsys.readouterr().out == first  # --seed repeats


def test_greedy_sampling_with_and_without_cache_prints_the_same(trained, capsys):
    base = ["sample", str(trained), "--prompt", "First", "--max-new-tokens", "50", "--temperature", "0"]
    main(base)
    cached = capsys.readouterr().out
    main([*base, "--no-cache"])
    assert capsys.readouterr().out == cached


def test_show_probs_marks_each_token(trained, capsys):
    main(["sample", str(trained), "--prompt", "A", "--max-new-tokens", "5", "--show-probs", "--seed", "0"])
    out = capsys.readouterr().out
    assert out.count("[0.") + out.count("[1.") == 5


def test_prompt_with_unseen_characters_is_refused(trained, capsys):
    assert main(["sample", str(trained), "--prompt", "héllo€"]) == 2
    err = capsys.readouterr().err
    assert "'é'" in err and "'€'" in err and "Traceback" not in err


def test_eval_prints_loss_perplexity_and_bits_per_char(trained, capsys):
    assert main(["eval", str(trained), "--splits", "val"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("val"))
    _, tokens, characters, loss, perplexity, bits, bits_per_char = line.split()
    assert int(tokens.replace(",", "")) == 111_539 == int(characters.replace(",", ""))
    assert float(perplexity) == pytest.approx(2.718281828 ** float(loss), rel=1e-3)
    assert float(bits) == pytest.approx(float(loss) / 0.693147, rel=1e-3)
    assert float(bits_per_char) == pytest.approx(float(bits), abs=1e-4)  # one token is one character
    assert "bits/char" in out


def test_plot_of_two_runs(trained, tmp_path, capsys):
    second = tmp_path / "second"
    train(tiny_config("train.lr=3e-3"), second, progress=False)
    out = tmp_path / "both.png"
    assert main(["plot", str(trained), str(second), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_for_a_preset_and_a_run(trained, capsys):
    assert main(["info", "nanogpt-cpu", "--set", "model.tie_weights=true"]) == 0
    out = capsys.readouterr().out
    assert "804,096" in out and "787,584" in out  # nanoGPT's model in its CPU recipe: 0.80M parameters
    assert main(["info", "nanogpt-cpu"]) == 0
    out = capsys.readouterr().out
    assert "812,416" in out and "lm_head" in out  # the preset's untied output layer: 65 x 128 more
    assert main(["info", str(trained)]) == 0
    assert "non-embedding" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["sample", "no/such/run"], ["no/such/run", "run directory"]),
        (["eval", "no/such/run"], ["no/such/run"]),
        (["train", "shakespeare-char", "--set", "model.n_head=5"], ["model.n_head", "divisible"]),
        (["train", "shakespeare-char", "--set", "train.max_step=5"], ["train.max_step", "train.max_steps"]),
        (["train", "no-such-preset"], ["no-such-preset", "shakespeare-char"]),
        (["train"], ["preset"]),
    ],
)
def test_bad_input_gets_one_line_and_no_traceback(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lmlab: error:")
    for word in words:
        assert word in err


def test_damaged_run_directory(trained, capsys):
    (trained / "tokenizer.json").write_text("{")
    assert main(["sample", str(trained)]) == 2
    assert "tokenizer.json" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "lmlab", "info", "--presets"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "shakespeare-char-cpu" in result.stdout


def test_resume_from_the_command_line_can_extend_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    overrides = [a for o in TINY for a in ("--set", o)]
    assert (
        main(
            [
                "train",
                "shakespeare-char-cpu",
                *overrides,
                "--set",
                "train.max_steps=4",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["train", "--resume", str(out), "--set", "train.max_steps=8", "--quiet"]) == 0
    assert "finished at step 8" in capsys.readouterr().out
    assert '"max_steps": 8' in (out / "config.json").read_text()
    assert main(["train", "shakespeare-char-cpu", "--resume", str(out)]) == 2


@pytest.mark.parametrize("kind", ["bigram_embed", "attention", "lstm"])
def test_every_command_works_for_every_family(kind, tmp_path, capsys):
    run = tmp_path / kind
    family = apply_overrides(load_preset("shakespeare-char-cpu"), [f"model.kind={kind}"])
    tiny = [o for o in TINY if key_applies(family, o.partition("=")[0])]  # --set refuses keys it ignores
    overrides = [a for o in [*tiny, f"model.kind={kind}"] for a in ("--set", o)]
    assert main(["train", "shakespeare-char-cpu", *overrides, "--out", str(run), "--quiet"]) == 0
    assert main(["sample", str(run), "--prompt", "KING:", "--max-new-tokens", "30", "--seed", "0"]) == 0
    assert main(["eval", str(run), "--splits", "val"]) == 0
    assert main(["info", str(run)]) == 0
    assert main(["plot", str(run)]) == 0
    out = capsys.readouterr().out
    assert "KING:" in out and "val " in out and f": {kind}," in out and (run / "loss.png").exists()


def test_resume_finds_the_data_folder_the_run_was_trained_with(tmp_path, monkeypatch, capsys):
    """`--data-dir` is remembered in RUN/data.json: `lmlab train --resume RUN` and lmlab.train(resume=True)
    read the same files without being told again (without it, the cache or a download)."""
    import lmlab

    from .conftest import SHARED_DATA

    out = tmp_path / "run"
    overrides = [a for o in TINY for a in ("--set", o)]
    args = ["train", "shakespeare-char-cpu", *overrides, "--set", "train.max_steps=4", "--out", str(out)]
    assert main([*args, "--data-dir", str(SHARED_DATA), "--quiet"]) == 0
    monkeypatch.delenv("LMLAB_DATA_DIR")  # nothing else points at the data now
    assert main(["train", "--resume", str(out), "--set", "train.max_steps=6", "--quiet"]) == 0
    assert "finished at step 6" in capsys.readouterr().out
    run = lmlab.train("shakespeare-char-cpu", out, resume=True, progress=False, train__max_steps=8)
    assert run.dir.checkpoint_step() == 8
