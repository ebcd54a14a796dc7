import dataclasses
import json
from importlib import resources

import pytest
import torch

from lmlab.config import (
    DATA_KEY_SCOPES,
    DATASETS,
    MODEL_KEY_KINDS,
    MODEL_KINDS,
    TOKENIZERS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    config_keys,
    key_applies,
    load_config_file,
)
from lmlab.data import known_vocab_size
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.experiments.sweep import expand
from lmlab.models import build_model
from lmlab.presets import load_preset, preset_names
from lmlab.recipes import load_recipe, recipe_names

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
    # Muon, the speedrun's winner; QK-norm, which helps the speedrun, cost 0.004-0.009 val loss here
    assert (best_cpu.train.optimizer, best_cpu.model.qk_norm) == ("muon", False)
    # a linear cool-down to zero over the last 40%: 1.481 / 1.486 against the cosine's 1.505 / 1.501
    schedule = (best_cpu.train.lr_decay, best_cpu.train.cooldown_fraction, best_cpu.train.min_lr)
    assert schedule == ("wsd", 0.4, 0)
    own_text = load_preset("text")  # the same recipe for a corpus of one's own
    assert (own_text.model, own_text.train) == (best_cpu.model, best_cpu.train)
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


@pytest.mark.parametrize(
    "preset, overrides, words",
    [
        ("shakespeare-char", "data.p=97", ["data.p applies to data.dataset=arithmetic, not shakespeare"]),
        ("shakespeare-char", "data.split=length", ["data.split", "data.dataset=scan"]),
        ("shakespeare-char", "data.split_seed=3", ["data.split_seed", "not shakespeare"]),
        ("shakespeare-char", "data.bpe_vocab_size=300", ["data.tokenizer=bpe|course_bpe, not char"]),
        ("shakespeare-char", "data.bpe_backend=hf", ["data.tokenizer=bpe, not char"]),
        ("scan-simple", "data.windows=all", ["data.windows", "data.dataset=shakespeare|text, not scan"]),
        ("arith-gpt", "data.drop_speaker_lines=true", ["data.drop_speaker_lines", "not arithmetic"]),
        ("scan-simple", "data.drop_blank_lines=true", ["data.drop_blank_lines", "not scan"]),
        ("arith-gpt", "data.train_fraction=0.5", ["data.train_fraction", "not arithmetic"]),
        ("scan-simple", "data.encoding=latin-1", ["data.encoding", "data.dataset=text, not scan"]),
        ("shakespeare-char", "model.hidden_size=64", ["applies to model.kind=lstm, not gpt", "hidden_size"]),
        ("shakespeare-lstm", "model.n_head=2", ["model.n_head", "model.kind=attention|gpt, not lstm"]),
        ("shakespeare-bigram", "model.dropout=0.1", ["model.dropout", "not bigram"]),
        ("shakespeare-lstm", "model.attention_dropout=0", ["model.attention_dropout", "not lstm"]),
        ("shakespeare-lstm", "model.init_std=0.1", ["model.init_std", "not lstm"]),
        ("shakespeare-lstm", "model.init=pytorch", ["model.init", "not lstm"]),
        ("shakespeare-bigram", "model.qkv_bias=true", ["model.qkv_bias", "not bigram"]),
        # checked against the config after every override: the last model.kind decides
        ("shakespeare-char", "model.n_head=2 model.kind=lstm", ["model.n_head", "not lstm"]),
    ],
)
def test_a_key_that_does_not_apply_is_refused(preset, overrides, words):
    with pytest.raises(LmlabError) as error:
        apply_overrides(load_preset(preset), overrides.split(" "))
    message = str(error.value)
    assert "\n" not in message and "drop it or set" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("shakespeare-char", "data.tokenizer=bpe data.bpe_vocab_size=300 data.bpe_backend=lmlab"),
        ("shakespeare-char", "data.p=97 data.dataset=arithmetic data.tokenizer=word"),
        ("shakespeare-char", "model.hidden_size=64 model.kind=lstm"),
        ("shakespeare-attention-1head", "model.attention_window=2 model.bias=true model.dropout=0.1"),
        ("scan-simple", "data.train_fraction=0.8 data.split_seed=3 data.source=generated data.split=length"),
        ("arith-lstm", "data.split_seed=1 data.r_train=0.3 model.hidden_size=32 model.n_layer=1"),
        ("text", "data.encoding=latin-1 data.train_fraction=0.8 data.data_file=corpus.txt"),
    ],
)
def test_a_key_that_applies_is_accepted(preset, overrides):
    config = apply_overrides(load_preset(preset), overrides.split(" "))
    assert all(key_applies(config, item.partition("=")[0]) for item in overrides.split(" "))


def test_shared_overrides_are_not_refused_where_they_do_not_apply():
    """A sweep's or comparison's common settings may name keys that only some of its runs read."""
    bigram = apply_overrides(load_preset("shakespeare-bigram"), ["train.lr=0.02"], shared=["model.n_layer=2"])
    assert bigram.model.n_layer == 2 and bigram.train.lr == 0.02
    with pytest.raises(LmlabError, match="model.n_layer"):
        apply_overrides(load_preset("shakespeare-bigram"), ["model.n_layer=2"])


def test_the_scope_tables_cover_every_key_with_valid_choices():
    assert set(MODEL_KEY_KINDS) == {f.name for f in dataclasses.fields(ModelConfig)}
    assert all(set(kinds) <= set(MODEL_KINDS) for kinds in MODEL_KEY_KINDS.values())
    assert set(DATA_KEY_SCOPES) == {f.name for f in dataclasses.fields(DataConfig)}
    choices = {"dataset": DATASETS, "tokenizer": TOKENIZERS}
    assert all(set(values) <= set(choices[decider]) for decider, values in DATA_KEY_SCOPES.values())
    keys = config_keys()
    assert "data.p (int) = 31  [only with data.dataset=arithmetic]" in keys
    assert "model.n_layer (int) = 6  [only with model.kind=gpt|lstm]" in keys
    assert "train.lr (float) = 0.001" in keys and "model.kind (str) = gpt" in keys


# a valid value other than the default for every model key that some family does not read
OTHER_VALUES = {
    "n_layer": 3,
    "n_head": 4,
    "n_embd": 32,
    "dropout": 0.5,
    "bias": True,
    "attention_bias": True,
    "qkv_bias": True,
    "attention_out_proj": False,
    "mlp_bias": True,
    "lm_head_bias": True,
    "tie_weights": False,
    "norm": "rmsnorm",
    "norm_eps": 1e-8,
    "position": "sinusoidal",
    "activation": "relu",
    "mlp_ratio": 2.0,
    "attention_window": 2,
    "causal": False,
    "hidden_size": 24,
    "segment_embeddings": True,
    "segments_constant": True,
    "init_std": 0.5,
    "init": "normal",
    "checkpoint_activations": True,
    "qk_norm": True,
    "zero_init_proj": True,
    "x0_skip": True,
    "value_embeddings": True,
    "attention_dropout": 0.5,
}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_refused_model_key_does_not_change_the_model(kind):
    """The table refuses no key a family reads: changing one it refuses leaves weights and logits alike."""
    base = ModelConfig(kind=kind, vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    idx = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(0))
    refused = [name for name, kinds in MODEL_KEY_KINDS.items() if kind not in kinds]
    assert set(refused) <= set(OTHER_VALUES)
    for name in refused:
        try:
            changed = dataclasses.replace(base, **{name: OTHER_VALUES[name]})
        except LmlabError:  # the value is invalid for this family anyway (segment_embeddings)
            continue
        results = []
        for config in (base, changed):
            torch.manual_seed(0)
            model = build_model(config).train()  # dropout active
            results.append((model.state_dict(), model(idx)))  # logits (B, T, V)
        (weights, logits), (other_weights, other_logits) = results
        assert weights.keys() == other_weights.keys(), f"model.{name} changes {kind}'s parameters"
        for key in weights:
            torch.testing.assert_close(other_weights[key], weights[key], msg=f"model.{name}: {kind}.{key}")
        torch.testing.assert_close(other_logits, logits, msg=f"model.{name} changes {kind}'s logits")


def _preset_keys(name: str) -> list[str]:
    raw = json.loads(resources.files("lmlab.presets").joinpath(f"{name}.json").read_text())
    return [f"{section}.{key}" for section, values in raw.items() for key in values]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_sets_only_keys_that_apply(name):
    config = load_preset(name)
    assert [key for key in _preset_keys(name) if not key_applies(config, key)] == []


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_expands_and_its_overrides_apply_to_every_run(name):
    spec = load_recipe(name)
    runs = expand(spec)
    keys = [item.partition("=")[0] for item in spec.overrides]
    assert runs and [(r.name, k) for r in runs for k in keys if not key_applies(r.config, k)] == []


def test_known_vocab_size_is_the_size_of_the_tokenizer_a_run_builds():
    scan = load_preset("scan-simple").data
    assert known_vocab_size(scan) == load_pair_task(scan).tokenizer.vocab_size == 23
    for p, operator in [(5, "+"), (97, "/")]:
        arith = dataclasses.replace(load_preset("arith-gpt").data, p=p, operator=operator)
        assert known_vocab_size(arith) == load_pair_task(arith).tokenizer.vocab_size == p + 6
    assert known_vocab_size(load_preset("shakespeare-bpe").data) == 500


def test_a_shared_setting_that_applies_to_no_run_is_refused(tmp_path):
    from lmlab.config import check_shared
    from lmlab.experiments.compare import compare
    from lmlab.experiments.sweep import SweepSpec, expand

    mixed = [load_preset("shakespeare-char"), load_preset("shakespeare-lstm")]
    check_shared(mixed, ["model.hidden_size=32", "model.n_head=2", "train.lr=0.01"])  # each applies to one
    with pytest.raises(LmlabError, match="--set data.p applies to none of the runs"):
        check_shared(mixed, ["data.p=97"])
    with pytest.raises(LmlabError, match="--set model.hidden_size applies to none of the runs"):
        compare(["shakespeare-char", "shakespeare-bigram"], ["model.hidden_size=8"], tmp_path)
    spec = SweepSpec(preset="shakespeare-char", grid={"model.n_layer": ["1", "2"]}, seeds=(0,),
                     overrides=("data.r_train=0.3",))  # fmt: skip
    with pytest.raises(LmlabError, match="--set data.r_train applies to none of the runs"):
        expand(spec)
