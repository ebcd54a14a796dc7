"""Model switches: model.position=none, model.causal, per-layer biases, model.init_std for the bigram."""

import dataclasses
import json
import math

import pytest
import torch

from lmlab.cli.main import main
from lmlab.config import ModelConfig, RunConfig, apply_overrides
from lmlab.data.corpus import load_corpus
from lmlab.errors import LmlabError
from lmlab.generation.decode import generate
from lmlab.generation.translate import translate
from lmlab.inspect.next_token import next_tokens
from lmlab.loss import next_token_loss
from lmlab.models import build_model
from lmlab.models.base import NON_CAUSAL
from lmlab.models.hf_gpt2 import gpt2_config_for
from lmlab.models.params import count_parameters
from lmlab.models.size import estimate_parameters
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train
from lmlab.tokenizers.char import CharTokenizer
from lmlab.tokenizers.word import WordTokenizer

from .conftest import SHARED_DATA, tiny_config, with_vocab


def tiny_gpt(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    fields = dict(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0) | changes
    return build_model(ModelConfig(**fields)).eval()


# --- model.position=none


def test_without_positions_a_repeated_token_gets_the_same_logits_everywhere():
    idx = torch.full((1, 10), 7)
    plain = tiny_gpt(position="none")
    assert not any("position" in name for name, _ in [*plain.named_parameters(), *plain.named_buffers()])
    for logits in (plain(idx), plain.inspect(idx).logits):  # SDPA and explicit paths
        torch.testing.assert_close(logits[0], logits[0, :1].expand(10, -1))
    learned = tiny_gpt(position="learned")(idx)[0]
    assert not torch.allclose(learned, learned[:1].expand(10, -1))  # the test can fail


def test_without_positions_cached_and_uncached_decoding_agree():
    model = tiny_gpt(position="none")
    idx = torch.randint(65, (2, 3), generator=torch.Generator().manual_seed(1))
    cached = generate(model, idx, 40, temperature=0, use_cache=True)  # past block_size=16
    assert torch.equal(cached, generate(model, idx, 40, temperature=0, use_cache=False))
    cache = model.new_cache(2)
    with torch.no_grad():
        stepwise = torch.cat([model(idx[:, :2], cache=cache), model(idx[:, 2:], cache=cache)], dim=1)
        torch.testing.assert_close(stepwise, model(idx))


def test_position_none_counts_no_position_parameters():
    config = ModelConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, position="none")
    learned = dataclasses.replace(config, position="learned")
    assert estimate_parameters(learned) - estimate_parameters(config) == 16 * 32
    assert estimate_parameters(config) == count_parameters(build_model(config)).total


# --- model.causal


@pytest.mark.parametrize("kind", ["gpt", "attention"])
def test_bidirectional_attention_sees_the_future_and_both_paths_agree(kind):
    torch.manual_seed(0)
    idx = torch.randint(65, (2, 12))
    changed = idx.clone()
    changed[:, -1] = (idx[:, -1] + 1) % 65
    for causal in (True, False):
        model = tiny_gpt(kind=kind, causal=causal)
        weights = model.attention_weights(idx)  # explicit path
        torch.testing.assert_close(model(idx), model.inspect(idx).logits)  # SDPA == explicit
        earlier_moved = not torch.allclose(model(idx)[:, 0], model(changed)[:, 0])
        assert earlier_moved == (not causal)  # the first position reads the last token only if non-causal
        assert bool((weights[..., 0, 1:] > 0).any()) == (not causal)  # weights above the diagonal


def test_bidirectional_gpt_paths_agree_with_dropout_off_and_rotary():
    model = tiny_gpt(causal=False, position="rotary")
    idx = torch.randint(65, (3, 16))
    torch.testing.assert_close(model(idx), model.inspect(idx).logits)


def test_a_non_causal_gpt_learns_to_read_the_answer(tmp_path, capsys):
    # one layer with rotary positions finds "attend to the next position" in a few dozen steps
    short = ["model.n_layer=1", "model.position=rotary", "train.batch_size=32", "train.lr=1e-2"]
    steps = [*short, "train.lr_decay=constant", "train.max_steps=60", "train.eval_interval=60"]
    losses = {}
    for causal in ("true", "false"):
        train(tiny_config(f"model.causal={causal}", *steps), tmp_path / causal, progress=False)
        losses[causal] = RunDir(tmp_path / causal).metrics()[-1]["val_loss"]
    assert losses["false"] < 0.5 * losses["true"], losses  # the leak: the next token is in view
    run = str(tmp_path / "false")
    capsys.readouterr()
    assert main(["sample", run, "--max-new-tokens", "5"]) == 2
    assert main(["next", run, "--prompt", "To be"]) == 2
    assert capsys.readouterr().err.count("it cannot generate — train with model.causal=true") == 2


def test_generation_refuses_a_non_causal_model_in_one_line():
    model = tiny_gpt(causal=False)
    with pytest.raises(LmlabError, match="cannot generate") as raised:
        generate(model, torch.zeros(1, 1, dtype=torch.long), 3)
    assert str(raised.value) == NON_CAUSAL and "\n" not in NON_CAUSAL
    with pytest.raises(LmlabError, match="model.causal=true"):
        next_tokens(model, CharTokenizer.fit("abc"), "ab", is_pair_task=False, top=3)
    words = WordTokenizer.fit(["jump", "I_JUMP"])
    pair_model = tiny_gpt(causal=False, vocab_size=words.vocab_size, segment_embeddings=True)
    with pytest.raises(LmlabError, match="cannot generate"):
        translate(pair_model, words, ["jump"])


def test_causal_switch_is_validated_in_one_line():
    with pytest.raises(LmlabError, match="attention_window needs model.causal=true"):
        ModelConfig(causal=False, attention_window=2)
    with pytest.raises(LmlabError, match="applies to model.kind=attention|gpt"):
        apply_overrides(load_preset("shakespeare-bigram"), ["model.causal=false"])
    with pytest.raises(LmlabError, match="model.causal=true"):
        gpt2_config_for(ModelConfig(vocab_size=65, bias=True, causal=False))


# --- per-layer biases


def test_bias_switches_follow_model_bias_unless_set():
    assert ModelConfig(bias=True).attention_has_bias and ModelConfig(bias=True).mlp_has_bias
    assert not ModelConfig(bias=True).lm_head_has_bias  # GPT-2's output layer has none
    split = ModelConfig(bias=False, attention_bias=True, mlp_bias=False, lm_head_bias=True)
    assert split.attention_has_bias and not split.mlp_has_bias and split.lm_head_has_bias
    assert not ModelConfig(bias=True, mlp_bias=False).mlp_has_bias


@pytest.mark.parametrize("tie", [True, False])
def test_closed_form_counts_of_the_arithmetic_decoder_and_a_biased_output_layer(tie):
    d, m, L, V, T = 32, 4, 2, 65, 16
    config = ModelConfig(
        vocab_size=V,
        block_size=T,
        n_layer=L,
        n_head=4,
        n_embd=d,
        bias=False,
        mlp_ratio=float(m),
        attention_bias=True,
        mlp_bias=False,
        lm_head_bias=True,
        tie_weights=tie,
    )
    report = count_parameters(build_model(config))
    assert report.top_level("blocks") == L * (4 * d * d + 4 * d + 2 * m * d * d + 2 * d)  # + 2 norms
    assert report.by_component["lm_head"] == (0 if tie else d * V) + V
    assert report.total == V * d + T * d + report.top_level("blocks") + d + (0 if tie else d * V) + V
    assert estimate_parameters(config) == report.total


@pytest.mark.parametrize("kind", ["gpt", "attention"])
def test_attention_bias_alone(kind):
    d, layers = 32, 2 if kind == "gpt" else 1  # the attention family has one layer
    without = count_parameters(tiny_gpt(kind=kind, bias=False)).total
    with_bias = count_parameters(tiny_gpt(kind=kind, bias=False, attention_bias=True)).total
    assert with_bias == without + layers * 4 * d  # q, k, v and out_proj biases
    config = ModelConfig(kind=kind, vocab_size=65, block_size=16, n_head=2, n_embd=d, attention_bias=True)
    assert estimate_parameters(config) == count_parameters(build_model(config)).total


def test_bias_switches_round_trip_and_are_refused_where_unread():
    config = apply_overrides(tiny_config(), ["model.mlp_bias=false", "model.lm_head_bias=true"])
    again = RunConfig.from_dict(json.loads(config.to_json()))
    assert again == config and again.model.attention_bias is None
    unset = apply_overrides(config, ["model.mlp_bias=none"])
    assert unset.model.mlp_bias is None
    with pytest.raises(LmlabError, match="expects true or false or none, got 'maybe'"):
        apply_overrides(config, ["model.mlp_bias=maybe"])
    with pytest.raises(LmlabError, match="model.mlp_bias applies to model.kind=gpt"):
        apply_overrides(tiny_config(), ["model.kind=attention", "model.mlp_bias=false"])
    with pytest.raises(LmlabError, match=r"model.mlp_bias=true \(not false\)"):
        gpt2_config_for(ModelConfig(vocab_size=65, bias=True, mlp_bias=False))


def test_info_shows_the_switches(capsys):
    setting = ["--set", "model.position=none", "--set", "model.causal=false", "--set", "model.mlp_bias=false"]
    assert main(["info", "shakespeare-char", *setting]) == 0
    out = capsys.readouterr().out
    assert "position=none" in out and "causal=false" in out and "mlp_bias=false" in out


# --- model.init_std for the bigram table


def test_bigram_with_unit_init_starts_at_the_assignments_untrained_loss():
    config = with_vocab(apply_overrides(load_preset("shakespeare-bigram"), ["model.init_std=1.0"]))
    val = load_corpus(config.data, SHARED_DATA).val
    torch.manual_seed(1337)
    model = build_model(config.model)
    assert model.logits_table.weight.std().item() == pytest.approx(1.0, abs=0.05)
    with torch.no_grad():
        loss = next_token_loss(model(val[None, :-1]), val[None, 1:]).item()
    assert math.log(65) < loss and abs(loss - 4.66) < 0.3, loss  # assignment 004, question 1.1.8
    default = with_vocab(load_preset("shakespeare-bigram"))
    with torch.no_grad():
        start = next_token_loss(build_model(default.model)(val[None, :-1]), val[None, 1:]).item()
    assert abs(start - math.log(65)) < 0.01  # N(0, 0.02): near uniform
