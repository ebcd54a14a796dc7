import math

import pytest
import torch
from safetensors.torch import load_file

from lmlab.config import ModelConfig
from lmlab.generation.decode import generate
from lmlab.loss import next_token_loss
from lmlab.models import FAMILIES, build_model
from lmlab.models.layers import Block, CausalSelfAttention, RMSNorm, causal_mask, sinusoidal_table
from lmlab.models.lstm import LSTM, LSTMLayer, LSTMState
from lmlab.models.params import count_parameters
from lmlab.runs.trainer import train

from .conftest import tiny_config


def tiny(kind: str, **changes) -> torch.nn.Module:
    torch.manual_seed(0)
    fields = (
        dict(kind=kind, vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0) | changes
    )
    return build_model(ModelConfig(**fields)).eval()


VARIANTS = [
    ("bigram", {}),
    ("bigram_embed", {}),
    ("attention", {"n_head": 1}),
    ("attention", {}),
    ("gpt", {}),
    ("gpt", {"norm": "rmsnorm", "position": "rotary", "activation": "relu", "mlp_ratio": 2.0}),
    ("gpt", {"position": "sinusoidal", "bias": True, "tie_weights": False}),
    ("gpt", {"attention_window": 2}),
    ("lstm", {}),
    ("lstm", {"bias": False, "hidden_size": 24}),
]


@pytest.mark.parametrize("kind, changes", VARIANTS)
def test_every_family_shares_the_interface(kind, changes):
    model = tiny(kind, **changes)
    idx, targets = torch.randint(65, (2, 2, 12))
    logits = model(idx)
    loss = next_token_loss(logits, targets)
    assert logits.shape == (2, 12, 65) and loss.shape == ()
    assert loss.item() < math.log(65) + 1.0


@pytest.mark.parametrize("kind, changes", VARIANTS)
def test_greedy_decoding_with_and_without_cache_agrees_for_every_family(kind, changes):
    model = tiny(kind, **changes)
    idx = torch.randint(65, (2, 3), generator=torch.Generator().manual_seed(1))
    cached = generate(model, idx, 40, temperature=0, use_cache=True)  # far past block_size=16
    assert torch.equal(cached, generate(model, idx, 40, temperature=0, use_cache=False))


def test_bigram_conditions_on_the_last_token_only():
    model = tiny("bigram")
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[9, 8, 7, 4]])
    torch.testing.assert_close(model(a)[:, -1], model(b)[:, -1])
    torch.testing.assert_close(model(a)[0, -1], model.logits_table.weight[4])


def test_rmsnorm_matches_torch():
    torch.manual_seed(0)
    ours, reference = RMSNorm(16), torch.nn.RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        ours.weight.normal_()
        reference.weight.copy_(ours.weight)
    x = torch.randn(3, 5, 16) * 3
    torch.testing.assert_close(ours.explicit(x), reference(x))
    torch.testing.assert_close(ours(x), ours.explicit(x))


def test_sinusoidal_table_is_the_formula_and_not_learned():
    table = sinusoidal_table(10, 8)
    for pos in (0, 3, 9):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    model = tiny("gpt", position="sinusoidal")
    assert not any("position" in name for name, _ in model.named_parameters())
    assert "position_table" not in model.state_dict()  # fixed: derived, not saved


def test_rotary_scores_depend_on_relative_position_only():
    attention = CausalSelfAttention(
        ModelConfig(vocab_size=10, n_embd=16, n_head=2, block_size=32, position="rotary")
    )
    q, k = torch.randn(2, 1, 2, 1, 8)
    score = lambda m, n: (attention.rotary(q, m) * attention.rotary(k, n)).sum()  # noqa: E731
    torch.testing.assert_close(score(5, 2), score(15, 12))
    torch.testing.assert_close(attention.rotary(q, 7).norm(), q.norm())  # a rotation keeps lengths
    assert not torch.allclose(score(5, 2), score(5, 4))


@pytest.mark.parametrize("window", [1, 2, 5])
def test_windowed_attention_paths_and_cache_agree(window):
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=10, n_embd=16, n_head=2, block_size=16, dropout=0.0, attention_window=window
    )
    attention = CausalSelfAttention(config).eval()
    x = torch.randn(2, 10, 16)
    fused, _ = attention(x)
    explicit, weights = attention(x, need_weights=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-6)
    outside = ~causal_mask(10, 10, torch.device("cpu"), window)
    assert (weights[..., outside] == 0).all() and (weights.sum(-1) - 1).abs().max() < 1e-5
    model = tiny("gpt", attention_window=window)
    idx = torch.randint(65, (1, 30))
    assert torch.equal(
        generate(model, idx, 20, temperature=0), generate(model, idx, 20, temperature=0, use_cache=False)
    )


@pytest.mark.parametrize("n_layer", [1, 3])
def test_attention_window_bounds_the_receptive_field(n_layer):
    """Each layer reaches w - 1 tokens further back: n_layer * (w - 1) in all (w=2, one layer: a trigram)."""
    model = tiny("gpt", n_layer=n_layer, attention_window=2, block_size=16)
    idx = torch.randint(65, (1, 12), generator=torch.Generator().manual_seed(0))
    last = lambda tokens: model(tokens)[0, -1]  # noqa: E731 -- predicts token 13 from tokens up to 12
    reach = n_layer  # earliest visible position: 11 - n_layer
    outside, inside = idx.clone(), idx.clone()
    outside[0, : 11 - reach] = (outside[0, : 11 - reach] + 1) % 65
    inside[0, 11 - reach] = (inside[0, 11 - reach] + 1) % 65
    torch.testing.assert_close(last(outside), last(idx))
    assert not torch.allclose(last(inside), last(idx))


def test_lstm_matches_torch_with_copied_weights():
    torch.manual_seed(0)
    d_x, d_h, n_layer = 12, 16, 3
    ours = LSTM(
        ModelConfig(
            kind="lstm", vocab_size=30, n_embd=d_x, hidden_size=d_h, n_layer=n_layer, dropout=0.0, bias=True
        )
    ).eval()
    reference = torch.nn.LSTM(d_x, d_h, num_layers=n_layer, batch_first=True)
    with torch.no_grad():
        for i, layer in enumerate(ours.layers):
            w_ih, w_hh = getattr(reference, f"weight_ih_l{i}"), getattr(reference, f"weight_hh_l{i}")
            layer.gates.weight.copy_(torch.cat([w_ih, w_hh], dim=1))
            layer.gates.bias.copy_(getattr(reference, f"bias_ih_l{i}") + getattr(reference, f"bias_hh_l{i}"))
    idx = torch.randint(30, (4, 9))
    h0, c0 = torch.randn(2, n_layer, 4, d_h)
    expected, (h_n, c_n) = reference(ours.token_embedding(idx), (h0, c0))
    x = ours.token_embedding(idx)
    hs, cs = [], []
    for i, layer in enumerate(ours.layers):
        x, h, c = layer(x, h0[i], c0[i])
        hs.append(h)
        cs.append(c)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack(hs), h_n, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack(cs), c_n, atol=1e-5, rtol=1e-5)
    _, state = ours.run(idx, LSTMState(h0, c0))  # states pass in and come back out
    torch.testing.assert_close(state.h, h_n, atol=1e-5, rtol=1e-5)


def test_lstm_decoding_carries_the_state_without_rereading():
    model = tiny("lstm")
    idx = torch.randint(65, (2, 10))
    full = model(idx)
    cache = model.new_cache(2)
    steps = [model(idx[:, t : t + 1], cache=cache) for t in range(10)]  # one token at a time
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=1e-5)


def test_lstm_dropout_between_layers_not_after_the_last():
    model = tiny("lstm", dropout=0.5, n_layer=1).train()
    idx = torch.randint(65, (2, 6))
    assert torch.equal(model(idx), model(idx))  # one layer: nothing to drop between
    two = tiny("lstm", dropout=0.5, n_layer=2).train()
    assert not torch.equal(two(idx), two(idx))


@pytest.mark.parametrize("bias", [True, False])
def test_closed_form_parameter_counts(bias):
    d_x, d_h = 12, 20
    layer = LSTMLayer(d_x, d_h, bias=bias)
    assert sum(p.numel() for p in layer.parameters()) == 4 * (d_x + d_h) * d_h + (4 * d_h if bias else 0)
    d, m = 32, 3.0
    attention = CausalSelfAttention(ModelConfig(vocab_size=10, n_embd=d, n_head=4, bias=bias))
    assert sum(p.numel() for p in attention.parameters()) == (4 * (d * d + d) if bias else 4 * d * d)
    block = Block(ModelConfig(vocab_size=10, n_embd=d, n_head=4, bias=True, mlp_ratio=m))
    block.mlp = Block(
        ModelConfig(vocab_size=10, n_embd=d, n_head=4, bias=False, mlp_ratio=m)
    ).mlp  # bias-free MLP
    without_norms = sum(p.numel() for n, p in block.named_parameters() if not n.startswith("norm"))
    assert without_norms == 4 * d * d + 4 * d + 2 * int(m) * d * d


def test_parameter_report_for_every_family():
    d, V, L = 32, 65, 2
    assert count_parameters(tiny("bigram")).total == V * V
    assert count_parameters(tiny("bigram")).non_embedding == V * V  # the table is the model
    assert count_parameters(tiny("bigram_embed")).non_embedding == d * V + V
    attention = count_parameters(tiny("attention"))
    assert attention.by_component["attn"] == 4 * d * d and attention.non_embedding == 4 * d * d + d * V + V
    lstm = count_parameters(tiny("lstm"))
    assert lstm.by_component["layers.*.gates"] == L * 4 * (d + d) * d
    gpt = count_parameters(tiny("gpt"))
    assert gpt.by_component["blocks.*.attn"] == L * 4 * d * d
    assert gpt.by_component["blocks.*.mlp"] == L * 8 * d * d
    assert gpt.top_level("blocks") == L * (12 * d * d + 2 * d)
    assert set(FAMILIES) == {"bigram", "bigram_embed", "attention", "gpt", "lstm"}


@pytest.mark.parametrize("kind", ["bigram", "attention", "lstm"])
def test_every_family_trains_and_resumes_exactly(kind, tmp_path):
    dropout = [] if kind == "bigram" else ["model.dropout=0.1"]  # a bigram has no dropout to replay
    config = tiny_config(f"model.kind={kind}", *dropout)
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", stop_after_step=3, progress=False)
    result = train(config, tmp_path / "resumed", resume=True, progress=False)
    a = load_file(tmp_path / "straight" / "checkpoints" / "last" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "checkpoints" / "last" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a) and result.step == 8


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_inspect_returns_every_layers_hidden_states_and_the_gpts_attention(kind):
    model = tiny(kind, n_layer=3)
    idx = torch.randint(65, (2, 7))
    seen = model.inspect(idx)
    B, L, S = 2, 3, 7
    assert seen.hidden_states.shape == (B, L, S, 32)
    torch.testing.assert_close(seen.logits, model(idx))
    # the last layer's output is what the readout reads
    readout = model.final_norm(seen.hidden_states[:, -1]) if kind == "gpt" else seen.hidden_states[:, -1]
    torch.testing.assert_close(model.lm_head(readout), seen.logits)
    if kind == "lstm":
        assert seen.attentions is None
        zeros = torch.zeros(2, 32)
        first_layer, _, _ = model.layers[0](model.token_embedding(idx), zeros, zeros)
        torch.testing.assert_close(seen.hidden_states[:, 0], first_layer)
        return
    assert seen.attentions.shape == (B, L, 2, S, S)
    torch.testing.assert_close(seen.attentions.sum(-1), torch.ones(B, L, 2, S))
    assert torch.all(seen.attentions.triu(diagonal=1) == 0)  # causal: nothing from the future
    # the block outputs chain: block 1 applied to block 0's output gives block 1's output
    after_first, _ = model.blocks[1](seen.hidden_states[:, 0], cache=None, need_weights=False)
    torch.testing.assert_close(after_first, seen.hidden_states[:, 1])
