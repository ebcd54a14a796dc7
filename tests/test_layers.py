import math

import pytest
import torch

from lmlab.config import ModelConfig
from lmlab.models.kv_cache import LayerCache
from lmlab.models.layers import CausalSelfAttention, LayerNorm, causal_mask


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_matches_torch(bias):
    torch.manual_seed(0)
    ours = LayerNorm(16, bias=bias)
    reference = torch.nn.LayerNorm(16, bias=bias)
    with torch.no_grad():
        ours.weight.normal_()
        reference.weight.copy_(ours.weight)
        if bias:
            ours.bias.normal_()
            reference.bias.copy_(ours.bias)
    x = torch.randn(3, 5, 16) * 4 + 2
    torch.testing.assert_close(ours.explicit(x), reference(x))
    torch.testing.assert_close(ours(x), ours.explicit(x))
    var = x.var(dim=-1, unbiased=False, keepdim=True)  # biased variance, as the formula
    expected = (x - x.mean(-1, keepdim=True)) / torch.sqrt(var + 1e-5) * ours.weight
    torch.testing.assert_close(ours.explicit(x), expected + ours.bias if bias else expected)


def _attention(dropout=0.0, bias=True):
    torch.manual_seed(0)
    return CausalSelfAttention(
        ModelConfig(vocab_size=10, n_embd=32, n_head=4, block_size=16, dropout=dropout, bias=bias)
    )


@pytest.mark.parametrize("bias", [True, False])
def test_explicit_and_fused_attention_agree(bias):
    attention = _attention(bias=bias).eval()
    x = torch.randn(2, 12, 32)
    fused, none = attention(x)
    explicit, weights = attention(x, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-6)
    assert weights.shape == (2, 4, 12, 12)


def test_attention_weights_are_causal_distributions():
    _, weights = _attention().eval()(torch.randn(2, 9, 32), need_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 9))
    future = ~causal_mask(9, 9, torch.device("cpu"))
    assert (weights[..., future] == 0).all()
    assert (weights[..., 0, 0] == 1).all()  # the first token can only see itself


def test_attention_matches_the_formula_for_one_head():
    torch.manual_seed(0)
    attention = CausalSelfAttention(
        ModelConfig(vocab_size=10, n_embd=8, n_head=1, block_size=8, dropout=0.0)
    ).eval()
    x = torch.randn(1, 5, 8)
    q, k, v = attention.qkv(x).split(8, dim=2)
    scores = q @ k.transpose(1, 2) / math.sqrt(8)
    scores = scores + torch.triu(torch.full((5, 5), float("-inf")), diagonal=1)
    expected = attention.out_proj(torch.softmax(scores, dim=-1) @ v)
    torch.testing.assert_close(attention(x)[0], expected)


@pytest.mark.parametrize("need_weights", [False, True])
def test_cached_attention_equals_full_attention(need_weights):
    attention = _attention().eval()
    x = torch.randn(2, 10, 32)
    full, _ = attention(x)
    cache = LayerCache(2, 4, 16, 8, device="cpu", dtype=torch.float32)
    prefix, _ = attention(x[:, :6], cache=cache, need_weights=need_weights)
    chunk, _ = attention(x[:, 6:8], cache=cache, need_weights=need_weights)  # several new queries at once
    steps = [attention(x[:, t : t + 1], cache=cache, need_weights=need_weights)[0] for t in (8, 9)]
    torch.testing.assert_close(torch.cat([prefix, chunk, *steps], dim=1), full, rtol=1e-5, atol=1e-6)
    assert cache.length == 10


def test_cache_refuses_to_overflow():
    cache = LayerCache(1, 1, 4, 2, device="cpu", dtype=torch.float32)
    cache.append(torch.zeros(1, 1, 4, 2), torch.zeros(1, 1, 4, 2))
    with pytest.raises(ValueError, match="overflow"):
        cache.append(torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 1, 2))


def _attention_core(attention_dropout, dropout=0.5):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=10, n_embd=32, n_head=4, block_size=16, dropout=dropout,
                         attention_dropout=attention_dropout)  # fmt: skip
    return CausalSelfAttention(config).train()


@pytest.mark.parametrize("path", ["_fused", "_explicit"])
def test_attention_dropout_sets_the_attention_weights_dropout_apart_from_the_residual_one(path):
    q, k, v = (torch.randn(2, 4, 12, 8) for _ in range(3))

    def twice(attention):
        core = getattr(attention, path)
        first, second = core(q, k, v), core(q, k, v)
        return (first[0], second[0]) if path == "_explicit" else (first, second)

    off = _attention_core(attention_dropout=0.0)  # residual dropout 0.5, none on the weights
    torch.testing.assert_close(*twice(off))
    assert off.resid_dropout.p == 0.5
    followed = _attention_core(attention_dropout=None)  # None: model.dropout on the weights too
    assert not torch.equal(*twice(followed))
    only = _attention_core(attention_dropout=0.3, dropout=0.0)
    assert (only.dropout, only.attn_dropout.p, only.resid_dropout.p) == (0.3, 0.3, 0.0)
    assert not torch.equal(*twice(only))


def test_attention_dropout_none_trains_exactly_as_model_dropout():
    x = torch.randn(2, 12, 32)
    outputs = []
    for attention_dropout in (None, 0.25):
        attention = _attention_core(attention_dropout, dropout=0.25)
        torch.manual_seed(1)
        outputs.append(attention(x)[0])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
