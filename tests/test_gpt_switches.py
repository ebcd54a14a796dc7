"""modded-nanogpt's / nanochat's tricks as GPT switches: model.qk_norm, model.activation=relu2,
model.zero_init_proj, model.x0_skip and model.value_embeddings — equivalences, cache, size, export, info."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from lmlab.cli.main import main
from lmlab.config import ModelConfig, apply_overrides
from lmlab.errors import LmlabError
from lmlab.generation.decode import generate
from lmlab.loss import next_token_loss
from lmlab.models import build_model
from lmlab.models.hf_gpt2 import gpt2_config_for
from lmlab.models.layers import ReLUSquared, Rotary
from lmlab.models.params import count_parameters
from lmlab.models.size import estimate_parameters
from lmlab.presets import load_preset

ALL_ON = dict(qk_norm=True, activation="relu2", zero_init_proj=True, x0_skip=True, value_embeddings=True)
TRICKS = ["qk_norm", "zero_init_proj", "x0_skip", "value_embeddings"]


def config(**changes) -> ModelConfig:
    fields = dict(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0) | changes
    return ModelConfig(**fields)


def tiny_gpt(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(config(**changes)).eval()


def stirred(model: torch.nn.Module) -> torch.nn.Module:
    """Move the tricks' learned scalars and zeroed projections off their starting values, so each shows."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if "x0_lambdas" in name or "value_lambda" in name or "out_proj" in name:
                tensor.add_(0.3 * torch.randn(tensor.shape, generator=generator))
    return model


def tokens(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(65, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- model.qk_norm


@pytest.mark.parametrize("position", ["learned", "rotary", "alibi"])
def test_qk_norm_explicit_sdpa_and_cached_paths_agree(position):
    model = stirred(tiny_gpt(qk_norm=True, position=position))
    idx = tokens(3, 12)
    full = model(idx)  # SDPA
    torch.testing.assert_close(model.inspect(idx).logits, full, rtol=1e-5, atol=1e-5)  # explicit
    cache = model.new_cache(3)
    steps = [model(idx[:, :5], cache=cache)] + [model(idx[:, t : t + 1], cache=cache) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)


def test_qk_norm_caches_normalised_keys_and_changes_the_model():
    model = tiny_gpt(qk_norm=True)
    cache = model.new_cache(2)
    with torch.no_grad():
        model(tokens(2, 6), cache=cache)
    keys = cache.layers[0].keys[:, :, :6]  # (B, H, T, D)
    rms = keys.pow(2).mean(dim=-1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-4, atol=1e-4)
    plain = tiny_gpt()
    assert plain.state_dict().keys() == model.state_dict().keys()  # no weights: the same model otherwise
    assert not torch.allclose(plain(tokens(2, 6)), model(tokens(2, 6)))


def test_qk_norm_commutes_with_rotary():
    """Why the order does not matter: a rotation keeps each head vector's length, hence its RMS."""
    rotary, x = Rotary(8, 16), torch.randn(2, 3, 16, 8)
    D = (8,)
    torch.testing.assert_close(rotary(F.rms_norm(x, D), 0), F.rms_norm(rotary(x, 0), D), rtol=1e-5, atol=1e-6)


# --- model.activation=relu2


def test_relu2_is_relu_squared():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    assert torch.equal(ReLUSquared()(x), torch.tensor([0.0, 0.0, 0.0, 0.25, 9.0]))
    model = tiny_gpt(activation="relu2")
    assert all(isinstance(block.mlp.activation, ReLUSquared) for block in model.blocks)
    h = torch.randn(2, 5, 32)
    mlp = model.blocks[0].mlp
    torch.testing.assert_close(mlp(h), mlp.out_proj(torch.relu(mlp.fc(h)) ** 2))


# --- model.zero_init_proj


@pytest.mark.parametrize("init", ["gpt2", "normal", "pytorch"])
def test_zero_init_proj_zeroes_the_residual_projections_and_blocks_start_as_identity(init):
    model = tiny_gpt(zero_init_proj=True, bias=True, init=init, dropout=0.1).train()
    for block in model.blocks:
        for linear in (block.attn.out_proj, block.mlp.out_proj):
            assert not linear.weight.any() and not linear.bias.any()
        assert block.attn.qkv.weight.any() and block.mlp.fc.weight.any()  # the rest is drawn as usual
        x = torch.randn(2, 7, 32)
        assert torch.equal(block(x)[0], x)  # dropout on, still exactly the residual
    idx = tokens(2, 7)
    loss = next_token_loss(model(idx), idx)
    loss.backward()  # the zero projections still learn: their gradient is not zero
    assert model.blocks[0].attn.out_proj.weight.grad.any() and model.blocks[1].mlp.out_proj.weight.grad.any()


# --- model.x0_skip and model.value_embeddings: at the start, the plain model


@pytest.mark.parametrize("switch", ["x0_skip", "value_embeddings"])
@pytest.mark.parametrize("position", ["learned", "rotary"])
def test_at_initialisation_the_switch_gives_the_plain_models_logits(switch, position):
    plain = tiny_gpt(position=position)
    model = tiny_gpt(position=position, **{switch: True})
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)  # the same shared weights
    assert unexpected == [] and missing and all(("lambda" in k or "value_embeddings" in k) for k in missing)
    idx = tokens(3, 16)
    assert torch.equal(model(idx), plain(idx))  # exactly: a = 1, b = 0; λ = 0
    assert torch.equal(model.inspect(idx).logits, plain.inspect(idx).logits)
    stirred(model)
    assert not torch.allclose(model(idx), plain(idx))  # the test can fail: the switch does act


def test_x0_lambdas_start_at_one_and_zero_and_mix_the_embedding_in():
    model = tiny_gpt(x0_skip=True)
    assert torch.equal(model.x0_lambdas, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    with torch.no_grad():  # a = 0, b = 1 before every block: each block reads the embedding alone
        model.x0_lambdas.copy_(torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    idx = tokens(1, 5)
    x0 = model.token_embedding(idx) + model.position_embedding(torch.arange(5))
    expected = model.lm_head(model.final_norm(model.blocks[1](x0)[0]))
    torch.testing.assert_close(model(idx), expected)


def test_value_embeddings_are_one_table_per_layer_added_to_the_values():
    model = tiny_gpt(value_embeddings=True)
    assert len(model.value_embeddings) == 2 and model.value_embeddings[0].weight.shape == (65, 32)
    assert all(block.attn.value_lambda.item() == 0.0 for block in model.blocks)
    idx = tokens(2, 6)
    loss = next_token_loss(model(idx), idx)
    loss.backward()
    assert model.blocks[0].attn.value_lambda.grad != 0  # λ learns from the start
    report = count_parameters(model)
    assert "value_embeddings.*" in report.embedding_components
    assert report.by_component["value_embeddings.*"] == 2 * 65 * 32


# --- every switch on: cache, checkpointing, training


@pytest.mark.parametrize("position", ["learned", "rotary", "relative"])
@pytest.mark.parametrize("prompt_length", [1, 7])
def test_greedy_decoding_with_every_switch_on_is_the_same_with_and_without_the_cache(position, prompt_length):
    model = stirred(tiny_gpt(position=position, **ALL_ON))
    idx = tokens(3, prompt_length, seed=prompt_length)
    cached = generate(model, idx, 40, temperature=0, use_cache=True)  # past block_size=16: the window slides
    assert torch.equal(cached, generate(model, idx, 40, temperature=0, use_cache=False))


def test_cached_logits_with_every_switch_on_equal_the_full_forward():
    model = stirred(tiny_gpt(**ALL_ON))
    idx = tokens(2, 12)
    cache = model.new_cache(2)
    steps = [model(idx[:, :4], cache=cache)] + [model(idx[:, t : t + 1], cache=cache) for t in range(4, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), model(idx), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model.inspect(idx).logits, model(idx), rtol=1e-5, atol=1e-5)


def test_activation_checkpointing_with_every_switch_on_gives_the_same_gradients():
    plain = stirred(tiny_gpt(**ALL_ON))
    recomputed = tiny_gpt(**ALL_ON, checkpoint_activations=True)
    recomputed.load_state_dict(plain.state_dict())
    idx = tokens(3, 16)
    for model in (plain, recomputed):
        model.train()
        next_token_loss(model(idx), idx).backward()
    for (name, a), b in zip(plain.named_parameters(), recomputed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_a_model_with_every_switch_on_learns():
    model = tiny_gpt(**ALL_ON).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    idx = tokens(4, 16)
    losses = []
    for _ in range(12):
        loss = next_token_loss(model(idx), idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert model.blocks[0].attn.value_lambda.item() != 0 and model.x0_lambdas[:, 1].abs().sum() > 0


# --- size, scope, export, info


@pytest.mark.parametrize(
    "changes",
    [{k: True} for k in TRICKS]
    + [{"activation": "relu2"}, ALL_ON, ALL_ON | {"tie_weights": False, "bias": True}],
)
def test_estimate_parameters_matches_the_built_model(changes):
    model_config = config(**changes)
    assert estimate_parameters(model_config) == count_parameters(build_model(model_config)).total


def test_set_refuses_the_switches_for_families_that_do_not_read_them():
    for key in ["qk_norm", *TRICKS, "activation"]:
        value = "relu2" if key == "activation" else "true"
        with pytest.raises(LmlabError, match=f"model.{key}"):
            apply_overrides(load_preset("shakespeare-lstm"), [f"model.{key}={value}"])
    attention = apply_overrides(
        load_preset("shakespeare-char"), ["model.kind=attention", "model.qk_norm=true"]
    )
    assert attention.model.qk_norm  # the attention family's one layer reads it
    for key in ["zero_init_proj", "x0_skip", "value_embeddings"]:
        with pytest.raises(LmlabError, match=f"model.{key} needs model.kind=gpt"):
            dataclasses.replace(attention.model, **{key: True})


def test_attention_family_with_qk_norm_runs_both_paths_alike():
    model = stirred(build_model(config(kind="attention", qk_norm=True)).eval())
    idx = tokens(2, 9)
    torch.testing.assert_close(model.inspect(idx).logits, model(idx), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", ["qk_norm", "x0_skip", "value_embeddings"])
def test_hf_gpt2_refuses_the_switches_it_cannot_express(key):
    gpt2 = config(bias=True)
    gpt2_config_for(gpt2)  # GPT-2 itself is accepted
    with pytest.raises(LmlabError, match=f"model.{key}=false") as refused:
        gpt2_config_for(dataclasses.replace(gpt2, **{key: True}))
    assert "\n" not in str(refused.value)
    with pytest.raises(LmlabError, match="model.activation=gelu"):
        gpt2_config_for(dataclasses.replace(gpt2, activation="relu2"))
    gpt2_config_for(dataclasses.replace(gpt2, zero_init_proj=True))  # only a starting point: exported


def test_info_shows_the_switches_that_are_on(capsys):
    assert main(["info", "nanogpt-cpu"]) == 0
    out = capsys.readouterr().out
    assert "activation=gelu" in out and not any(key in out for key in TRICKS)
    on = [f"model.{key}=true" for key in TRICKS] + ["model.activation=relu2"]
    assert main(["info", "nanogpt-cpu", *[arg for item in on for arg in ("--set", item)]]) == 0
    out = capsys.readouterr().out
    assert all(f"{key}=true" in out for key in TRICKS) and "activation=relu2" in out
    assert "value_embeddings.*" in out and "x0_lambdas" in out
