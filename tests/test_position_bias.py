"""model.position=relative (T5's bucketed bias) and alibi (Press et al. 2022), beside none: the same
model through the explicit, SDPA and key/value-cache paths, and the bias itself."""

import math

import pytest
import torch

from lmlab.config import apply_overrides
from lmlab.errors import LmlabError
from lmlab.generation.decode import generate
from lmlab.models import build_model
from lmlab.models.position_bias import RELATIVE_BUCKETS, PositionBias, alibi_slopes, relative_buckets
from lmlab.models.size import estimate_parameters
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train

from .conftest import tiny_config, with_vocab

BIASED = ["relative", "alibi"]
EXTRAPOLATING = ["none", *BIASED]


def _model(position, *extra):
    torch.manual_seed(0)
    model = build_model(with_vocab(tiny_config(f"model.position={position}", *extra)).model).eval()
    if position == "relative":  # a random table, so that every bucket's bias shows
        torch.nn.init.normal_(model.position_bias.table.weight, std=1.0)
    return model


@pytest.mark.parametrize("position", EXTRAPOLATING)
def test_explicit_and_sdpa_paths_give_the_same_logits(position):
    model = _model(position)
    idx = torch.randint(65, (3, 16), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(idx), model.inspect(idx).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("position", EXTRAPOLATING)
@pytest.mark.parametrize("prompt_length", [1, 7])
def test_greedy_decoding_with_and_without_the_cache_is_identical(position, prompt_length):
    model = _model(position)
    idx = torch.randint(65, (3, prompt_length), generator=torch.Generator().manual_seed(prompt_length))
    cached = generate(model, idx, 40, temperature=0, use_cache=True)  # past block_size=16: the window slides
    uncached = generate(model, idx, 40, temperature=0, use_cache=False)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("position", BIASED)
def test_cached_logits_equal_the_full_forward(position):
    model = _model(position)
    idx = torch.randint(65, (2, 12), generator=torch.Generator().manual_seed(2))
    cache = model.new_cache(2)
    steps = [model(idx[:, :5], cache=cache)] + [model(idx[:, t : t + 1], cache=cache) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), model(idx), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("position", BIASED)
def test_one_bias_tensor_per_forward_pass_whatever_the_depth(position):
    model = _model(position, "model.n_layer=4")
    calls = []
    model.position_bias.register_forward_hook(lambda module, args, out: calls.append(out.shape))
    model(torch.zeros(2, 9, dtype=torch.long))
    assert calls == [torch.Size([1, 2, 9, 9])]  # (1, H, T, S), shared by the four layers


def test_alibi_slopes_and_bias_follow_the_paper():
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0**-i for i in range(1, 9)]))
    # 6 heads: the 4-head slopes, then every other slope of the 8-head set (Press et al.'s recipe)
    assert torch.allclose(alibi_slopes(6), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]))
    config = with_vocab(tiny_config("model.position=alibi", "model.n_head=2")).model
    bias = PositionBias(config)(3, 3, torch.device("cpu"))[0]  # (H, T, S)
    slope = alibi_slopes(2)[1].item()  # 1/16
    assert bias[1, 2, 0].item() == pytest.approx(-2 * slope) and bias[1, 2, 2].item() == 0.0
    assert bias[1, 0, 1].item() == -math.inf  # the causal mask is folded in


def test_relative_buckets_are_exact_near_and_logarithmic_far():
    distance = torch.arange(0, 300)
    buckets = relative_buckets(distance, causal=True)
    assert torch.equal(buckets[:16], torch.arange(16))  # one bucket per distance below 16
    assert (buckets.diff() >= 0).all() and buckets.max() == RELATIVE_BUCKETS - 1
    # 16 log-spaced buckets over 16..128: bucket 16 + floor(16 log(d/16) / log 8), the last from 113 on
    assert [buckets[d].item() for d in (16, 22, 32, 64, 112, 113, 299)] == [16, 18, 21, 26, 30, 31, 31]
    assert relative_buckets(torch.tensor([-5]), causal=True).item() == 0  # a key ahead: masked anyway
    both = relative_buckets(torch.tensor([3, -3]), causal=False)
    assert both[0] != both[1]  # an encoder tells left from right


def test_a_relative_bias_depends_on_the_distance_only():
    config = with_vocab(tiny_config("model.position=relative")).model
    bias = PositionBias(config)
    torch.nn.init.normal_(bias.table.weight)
    full = bias(10, 10, torch.device("cpu"))[0]
    assert torch.equal(full[:, 9, 5], full[:, 6, 2])  # distance 4 at two places
    assert torch.equal(bias(1, 10, torch.device("cpu"))[0, :, 0], full[:, 9])  # a cached query: last row


@pytest.mark.parametrize("position", EXTRAPOLATING)
def test_parameter_estimate_counts_the_relative_table(position):
    config = with_vocab(tiny_config(f"model.position={position}")).model
    built = sum(p.numel() for p in build_model(config).parameters())
    assert estimate_parameters(config) == built
    if position == "relative":
        learned = with_vocab(tiny_config()).model
        assert built == estimate_parameters(learned) - 16 * 32 + RELATIVE_BUCKETS * 2  # table replaces (P, C)


@pytest.mark.parametrize("position", BIASED)
def test_a_scan_model_with_a_bias_position_trains_and_resumes_exactly(tmp_path, position):
    settings = [
        f"model.position={position}", "model.n_layer=2", "model.n_head=2", "model.n_embd=16",
        "model.dropout=0.1", "train.max_steps=6", "train.eval_interval=3", "train.eval_steps=2",
        "train.batch_size=8", "train.device=cpu", "data.train_fraction=0.99",
    ]  # fmt: skip
    from lmlab.presets import load_preset

    config = apply_overrides(load_preset("scan-length"), settings)
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", stop_after_step=4, progress=False)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    straight, resumed = RunDir(tmp_path / "straight").metrics(), RunDir(tmp_path / "resumed").metrics()
    assert [r["val_loss"] for r in straight] == [r["val_loss"] for r in resumed]
    assert straight[-1]["val_loss"] < straight[0]["val_loss"]


def test_the_single_head_attention_model_refuses_a_bias_position():
    with pytest.raises(LmlabError, match="model.kind=gpt"):
        apply_overrides(tiny_config(), ["model.kind=attention", "model.position=alibi"])
