import dataclasses
import json

import pytest

from lmlab.config import ModelConfig, RunConfig, TrainConfig, apply_overrides, load_config_file
from lmlab.errors import LmlabError
from lmlab.models import build_model
from lmlab.presets import load_preset, preset_names

from .conftest import with_vocab


def test_overrides_parse_each_type():
    config = apply_overrides(
        load_preset("shakespeare-char"),
        [
            "model.n_layer=3",
            "model.dropout=0.1",
            "model.bias=true",
            "train.device=cpu",
            "train.max_steps=2e3",
        ],
    )
    assert config.model.n_layer == 3 and config.model.dropout == 0.1 and config.model.bias is True
    assert config.train.device == "cpu" and config.train.max_steps == 2000


@pytest.mark.parametrize(
    "override, words",
    [
        ("model.n_layers=3", ["model.n_layers", "model.n_layer"]),
        ("train.nope=1", ["train.nope"]),
        ("model.n_layer=three", ["model.n_layer", "integer"]),
        ("model.bias=maybe", ["model.bias", "true or false"]),
        ("model.n_head=5", ["model.n_embd", "model.n_head", "divisible"]),
        ("model.block_size=0", ["model.block_size"]),
        ("model.kind=rnn", ["model.kind"]),
        ("model.kind=attention model.position=rotary", ["model.position", "model.kind=gpt"]),
        ("n_layer", ["key=value"]),
    ],
)
def test_bad_override_names_the_key(override, words):
    with pytest.raises(LmlabError) as error:
        apply_overrides(load_preset("shakespeare-char"), override.split(" "))
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_configs_are_frozen_and_validated():
    config = ModelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_layer = 2  # type: ignore[misc]
    with pytest.raises(LmlabError, match="train.min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_builds_and_round_trips(name, tmp_path):
    config = load_preset(name)
    assert config.preset == name
    model = build_model(with_vocab(config).model)
    assert sum(p.numel() for p in model.parameters()) > 0
    path = tmp_path / "config.json"
    path.write_text(config.to_json())
    assert load_config_file(path) == config


def test_presets_match_documented_recipes():
    progression = [
        "shakespeare-bigram",
        "shakespeare-bigram-embed",
        "shakespeare-attention-1head",
        "shakespeare-attention-multihead",
        "shakespeare-char",
        "shakespeare-lstm",
    ]
    kinds = [load_preset(name).model.kind for name in progression]
    assert kinds == ["bigram", "bigram_embed", "attention", "attention", "gpt", "lstm"]
    assert [load_preset(n).model.n_head for n in progression[2:4]] == [1, 6]
    cpu = load_preset("nanogpt-cpu")  # nanoGPT's CPU recipe, output layer untied
    assert (cpu.model.n_layer, cpu.model.n_head, cpu.model.n_embd, cpu.model.block_size) == (4, 4, 128, 64)
    recipe = (
        cpu.train.batch_size,
        cpu.train.max_steps,
        cpu.model.dropout,
        cpu.train.lr,
        cpu.train.warmup_steps,
    )
    assert recipe == (12, 2000, 0.0, 1e-3, 100) and cpu.train.lr_decay == "cosine"
    best_cpu = load_preset("shakespeare-char-cpu")  # the best lmlab trains in 10 minutes on 2 cores
    assert (best_cpu.model.n_layer, best_cpu.model.n_embd, best_cpu.model.block_size) == (4, 128, 128)
    gpu = load_preset("shakespeare-char")
    assert (gpu.model.n_layer, gpu.model.n_head, gpu.model.n_embd, gpu.model.block_size) == (6, 6, 384, 256)


def test_config_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "config.json"
    raw = RunConfig().to_dict()
    raw["model"]["n_layerz"] = 3
    path.write_text(json.dumps(raw))
    with pytest.raises(LmlabError, match="model.n_layerz"):
        load_config_file(path)


def test_presets_join_with_plus_later_ones_winning():
    config = load_preset("scan-length+model-6x8x64")
    assert (config.model.n_layer, config.model.n_head, config.model.n_embd) == (6, 8, 64)
    assert config.data.split == "length" and config.model.block_size == 64
    assert config.preset == "scan-length+model-6x8x64"
    sizes = [load_preset(f"scan-simple+{m}").model for m in ("model-2x2x16", "model-4x4x32", "model-6x8x64")]
    assert [(m.n_layer, m.n_head, m.n_embd) for m in sizes] == [(2, 2, 16), (4, 4, 32), (6, 8, 64)]
    splits = ["scan-simple", "scan-length", "scan-addprim-jump", "scan-addprim-turn-left"]
    expected = ["simple", "length", "addprim_jump", "addprim_turn_left"]
    assert [load_preset(s).data.split for s in splits] == expected
    with pytest.raises(LmlabError, match="unknown preset 'model-9'"):
        load_preset("scan-simple+model-9")
