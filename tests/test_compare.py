import json
import math

import pytest

from lmlab.cli.main import main
from lmlab.experiments.compare import compare, parse_entry
from lmlab.reports.comparison import write_comparison

from .conftest import TINY


def test_entries_carry_their_own_overrides():
    config = parse_entry("shakespeare-char-cpu:model.norm=rmsnorm,model.position=rotary", ["model.n_layer=1"])
    assert (config.model.norm, config.model.position, config.model.n_layer) == ("rmsnorm", "rotary", 1)


def test_compare_trains_scores_and_tabulates(tmp_path, capsys):
    entries = [
        "shakespeare-bigram",
        "shakespeare-char-cpu:model.attention_window=2",
        "shakespeare-char-cpu:data.tokenizer=bpe,data.bpe_vocab_size=300",
    ]
    overrides = [*TINY, "train.max_steps=4"]
    rows = compare(entries, overrides, tmp_path / "cmp", progress=False)
    write_comparison(rows, tmp_path / "cmp")
    assert [r.entry for r in rows] == entries
    assert rows[0].kind == "bigram" and rows[0].parameters == 65 * 65 and rows[1].kind == "gpt"
    assert all(r.steps == 4 and r.val_loss > 0 and r.sample for r in rows)
    assert [r.tokenizer for r in rows] == ["char 65", "char 65", "bpe 300"]
    for row in rows[:2]:  # one token is one character
        assert row.val_bits_per_char == pytest.approx(row.val_loss / math.log(2), abs=2e-4)
    assert rows[2].val_bits_per_char < 0.8 * rows[2].val_loss / math.log(2)  # a BPE token spans >1 char
    table = (tmp_path / "cmp" / "results.md").read_text()
    assert table.startswith("| run | kind | tokenizer | parameters |") and table.count("**") == 2
    assert len(json.loads((tmp_path / "cmp" / "results.json").read_text())) == 3
    assert (tmp_path / "cmp" / "loss.png").exists()
    checkpoint = tmp_path / "cmp" / "shakespeare-bigram" / "checkpoints" / "last" / "model.safetensors"
    before = checkpoint.stat().st_mtime_ns
    args = ["compare", *entries, "--out", str(tmp_path / "cmp"), "--quiet"] + [
        a for o in overrides for a in ("--set", o)
    ]
    assert main(args) == 0  # finished runs are reused, not trained again
    assert checkpoint.stat().st_mtime_ns == before
    assert "| `shakespeare-bigram` | bigram |" in capsys.readouterr().out


def test_a_bad_entry_fails_before_any_training(tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "shakespeare-bigram",
                "shakespeare-char-cpu:model.norm=batchnorm",
                "--out",
                str(tmp_path / "cmp"),
            ]
        )
        == 2
    )
    assert "model.norm" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()
