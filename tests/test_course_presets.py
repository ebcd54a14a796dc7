"""The course-* presets: each assignment's model, counted as the assignment counts it, and the switches
they need (model.init, model.qkv_bias, model.attention_out_proj, lm_head_bias for the LSTM, the
cosine_floor schedule)."""

import dataclasses
import math

import pytest
import torch

from lmlab.config import ModelConfig, TrainConfig, apply_overrides
from lmlab.data import known_vocab_size
from lmlab.data.corpus import load_corpus
from lmlab.errors import LmlabError
from lmlab.generation.decode import generate
from lmlab.loss import next_token_loss
from lmlab.models import build_model
from lmlab.models.params import count_parameters
from lmlab.models.size import estimate_parameters
from lmlab.presets import load_preset, preset_names
from lmlab.training.schedule import lr_at

from .conftest import SHARED_DATA, with_vocab

COURSE_PRESETS = [name for name in preset_names() if name.startswith("course-")]


def sized(config):
    """The config with the vocabulary size its data gives (23 for SCAN, 37 for p = 31, 65 characters)."""
    return with_vocab(config, known_vocab_size(config.data))


def built(name: str, *overrides: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(sized(apply_overrides(load_preset(name), list(overrides))).model)


def total(name: str, *overrides: str) -> int:
    return count_parameters(built(name, *overrides)).total


def test_there_is_a_preset_for_every_assignment_model():
    expected = {
        "course-scan-baseline",
        "course-shakespeare-bpe",
        "course-arith-gpt",
        "course-arith-lstm",
        "course-char-gpt",
        "course-bigram",
        "course-bigram-embed",
        "course-attention-1head",
        "course-transformer",
    }
    assert expected <= set(COURSE_PRESETS)


@pytest.mark.parametrize(
    "name, parameters",
    [
        ("course-scan-baseline", 9_408),  # the SCAN assignment's "total params: 9408"
        ("course-shakespeare-bpe", 326_784),  # the BPE assignment's printed total
        ("course-attention-1head", 590_657),  # assignment 004's single head, no output projection
        ("course-transformer", 10_788_929),  # assignment 004's 6 x 6 x 384 ReLU transformer
    ],
)
def test_parameter_counts_are_the_assignments(name, parameters):
    assert total(name) == parameters


@pytest.mark.parametrize("name", COURSE_PRESETS)
def test_the_size_estimate_agrees_with_the_built_model(name):
    config = sized(load_preset(name)).model
    assert estimate_parameters(config) == count_parameters(build_model(config)).total


def lstm_closed_form(V: int, d_e: int, d_h: int, L: int, b: int) -> int:
    """The arithmetic assignment's tables 1 (b = 1) and 2 (b = 0) for its LSTM language model."""
    first_layer = 4 * (d_e + d_h) * d_h + 4 * d_h * b
    return V * d_e + first_layer + (L - 1) * (8 * d_h**2 + 4 * d_h * b) + V * d_h + V * b


def test_the_arithmetic_lstm_matches_the_assignments_closed_forms():
    V = sized(load_preset("course-arith-lstm")).model.vocab_size
    assert V == 37
    assert total("course-arith-lstm") == lstm_closed_form(V, 128, 128, 2, 1) == 272_677
    # table 2: without bias the classifier has none either
    assert total("course-arith-lstm", "model.bias=false") == lstm_closed_form(V, 128, 128, 2, 0) == 271_616
    for L, d in [(1, 64), (3, 256)]:
        size = [f"model.n_layer={L}", f"model.n_embd={d}"]
        for bias in (0, 1):
            counted = total("course-arith-lstm", *size, f"model.bias={str(bool(bias)).lower()}")
            assert counted == lstm_closed_form(V, d, d, L, bias)


def test_the_arithmetic_gpt_decoder_matches_the_assignments_closed_form():
    """P = L (4d^2 + 4d + 2 d^2 m): attention with biases, a bias-free MLP (norms counted apart)."""
    for L, d, m in [(2, 128, 4), (1, 64, 4), (3, 256, 4)]:
        model = built("course-arith-gpt", f"model.n_layer={L}", f"model.n_embd={d}")
        blocks = sum(p.numel() for n, p in model.blocks.named_parameters() if "norm" not in n)
        assert blocks == L * (4 * d * d + 4 * d + 2 * d * d * m)
        assert model.blocks[0].mlp.fc.bias is None and model.blocks[0].attn.out_proj.bias is not None
    assert model.lm_head.bias is not None  # the classifier has a bias (bias = True for classifiers)


def test_the_scan_baseline_is_the_assignments_model():
    model = built("course-scan-baseline")
    c = model.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (2, 2, 16, 128, 23)
    assert c.segment_embeddings and not c.tie_weights and model.lm_head.bias is None
    train = load_preset("course-scan-baseline").train
    assert (train.batch_size, train.max_epochs, train.lr, train.min_lr) == (32, 60, 4e-4, 4e-5)


# --- model.init


def test_init_schemes_draw_what_they_say():
    gpt = {"vocab_size": 65, "block_size": 32, "n_layer": 8, "n_head": 4, "n_embd": 256, "dropout": 0.0}
    torch.manual_seed(0)
    scaled = build_model(ModelConfig(**gpt, init="gpt2"))
    plain = build_model(ModelConfig(**gpt, init="normal"))
    default = build_model(ModelConfig(**gpt, init="pytorch"))
    assert scaled.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert scaled.blocks[0].attn.out_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)
    assert plain.blocks[0].attn.out_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    # nn.Linear's default: uniform within 1/sqrt(fan_in); nn.Embedding's: N(0, 1)
    weight = default.blocks[0].mlp.fc.weight
    assert weight.abs().max().item() <= 256**-0.5 and weight.std().item() == pytest.approx(
        256**-0.5 / math.sqrt(3), rel=0.05
    )
    assert default.token_embedding.weight.std().item() == pytest.approx(1.0, rel=0.05)


def test_init_pytorch_refuses_an_init_std_it_would_not_use():
    with pytest.raises(LmlabError, match="model.init_std=0.1 does not apply to model.init=pytorch"):
        ModelConfig(init="pytorch", init_std=0.1)
    with pytest.raises(LmlabError, match="model.init='xavier' is unknown"):
        ModelConfig(init="xavier")


def test_the_course_bigram_starts_at_the_assignments_untrained_loss():
    config = sized(load_preset("course-bigram"))
    val = load_corpus(config.data, SHARED_DATA).val
    torch.manual_seed(1337)
    with torch.no_grad():
        loss = next_token_loss(build_model(config.model)(val[None, :-1]), val[None, 1:]).item()
    assert math.log(65) < loss and abs(loss - 4.66) < 0.3, loss  # assignment 004, question 1.1.8


def test_init_std_now_reaches_the_attention_and_embedding_bigram_models():
    for name in ("shakespeare-attention-1head", "shakespeare-bigram-embed"):
        model = built(name, "model.init_std=0.5")
        assert model.token_embedding.weight.std().item() == pytest.approx(0.5, rel=0.1)


# --- attention without output projection, q/k/v without bias


def test_heads_without_output_projection_feed_the_readout_directly():
    model = built("course-attention-1head").eval()
    assert isinstance(model.attn.out_proj, torch.nn.Identity) and model.attn.qkv.bias is None
    idx = torch.randint(0, 65, (2, 20))
    x = model.token_embedding(idx) + model.position_embedding(torch.arange(20))
    q, k, v = model.attn.qkv(x).split(384, dim=2)
    scores = (q @ k.transpose(1, 2)) / math.sqrt(384)
    scores = scores.masked_fill(torch.ones(20, 20).triu(1).bool(), float("-inf"))
    expected = model.lm_head(scores.softmax(-1) @ v)
    torch.testing.assert_close(model(idx), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["attention", "gpt"])
def test_without_output_projection_the_cached_decoder_matches_the_uncached(kind):
    config = ModelConfig(
        kind=kind, vocab_size=30, block_size=24, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
        attention_out_proj=False, qkv_bias=False, bias=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config).eval()
    prompt = torch.randint(0, 30, (2, 5))
    cached = generate(model, prompt, 12, temperature=0.0, use_cache=True)
    uncached = generate(model, prompt, 12, temperature=0.0, use_cache=False)
    assert torch.equal(cached, uncached)
    assert model.config.qkv_has_bias is False and model.config.attention_has_bias is True


def test_a_gpt_without_output_projection_trains_a_step():
    smaller = ("model.n_layer=1", "model.n_embd=24")
    model = built("course-transformer", "model.attention_out_proj=false", *smaller)
    model.train()
    idx = torch.randint(0, 65, (2, 16))
    loss = next_token_loss(model(idx[:, :-1]), idx[:, 1:])
    loss.backward()
    assert torch.isfinite(loss) and model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


# --- minGPT's schedule (the SCAN assignment)


def test_cosine_floor_warms_up_follows_a_cosine_to_zero_and_holds_at_the_floor():
    config = TrainConfig(max_steps=1047, warmup_steps=47, lr=4e-4, min_lr=4e-5, lr_decay="cosine_floor")
    assert lr_at(0, config) == pytest.approx(4e-4 / 47)
    assert lr_at(47, config) == pytest.approx(4e-4)
    # halfway through the decay the cosine is at half of lr, as minGPT's; at 0.9 it is held at 10%
    assert lr_at(47 + 500, config) == pytest.approx(2e-4)
    assert lr_at(47 + 900, config) == pytest.approx(4e-5)
    assert lr_at(47 + 700, config) == pytest.approx(4e-4 * 0.5 * (1 + math.cos(math.pi * 0.7)))
    lrs = [lr_at(s, config) for s in range(47, 1047)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False)) and min(lrs) == pytest.approx(4e-5)


def test_course_presets_set_the_assignments_optimiser():
    bigram = load_preset("course-bigram").train  # torch.optim.AdamW's defaults on every parameter
    assert (bigram.weight_decay, bigram.decay_all, bigram.beta2, bigram.grad_clip) == (0.01, True, 0.999, 0.0)
    transformer = load_preset("course-transformer").train  # torch.optim.Adam: no weight decay
    assert (transformer.lr, transformer.weight_decay, transformer.max_steps) == (1e-4, 0.0, 2000)
    arith = load_preset("course-arith-gpt").train
    assert (arith.lr, arith.weight_decay, arith.decay_all, arith.batch_size) == (1e-3, 1.0, True, 512)
    assert dataclasses.replace(arith, max_steps=1).max_steps == 1


def test_norm_eps_reaches_every_norm_layer():
    base = {"vocab_size": 20, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.0}
    model = build_model(ModelConfig(**base, norm="rmsnorm", norm_eps=1e-8))
    assert {model.blocks[0].norm_attn.eps, model.final_norm.eps} == {1e-8}
    assert build_model(ModelConfig(**base, norm="rmsnorm")).final_norm.eps == 1e-6
    assert build_model(ModelConfig(**base)).final_norm.eps == 1e-5
    x = torch.randn(3, 16)
    torch.testing.assert_close(model.final_norm(x), x / (x.pow(2).mean(-1, keepdim=True) + 1e-8).sqrt())


def test_constant_segments_add_one_learned_vector_at_every_position():
    model = built("course-scan-baseline").eval()
    assert model.config.segments_constant
    idx = torch.randint(0, 23, (2, 9))
    source_target = torch.tensor([[0] * 4 + [1] * 5] * 2)
    # whatever segments a caller passes, every position gets segment 1's vector
    torch.testing.assert_close(model(idx, segments=source_target), model(idx))
    with torch.no_grad():
        model.segment_embedding.weight[0] += 1.0  # segment 0's vector is never read
    torch.testing.assert_close(model(idx, segments=source_target), model(idx))
    with pytest.raises(LmlabError, match="needs model.segment_embeddings=true"):
        ModelConfig(segments_constant=True)
