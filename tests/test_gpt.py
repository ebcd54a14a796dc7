import math

import pytest
import torch

from lmlab.config import ModelConfig
from lmlab.generation.decode import generate
from lmlab.generation.sampling import next_token_distribution, sample_next
from lmlab.loss import next_token_loss
from lmlab.models import build_model
from lmlab.models.params import count_parameters


def tiny_gpt(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    fields = dict(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0) | changes
    return build_model(ModelConfig(**fields)).eval()


def test_forward_shapes_and_initial_loss_near_uniform():
    model = tiny_gpt()
    idx, targets = torch.randint(65, (2, 3, 16))
    logits = model(idx)
    loss = next_token_loss(logits, targets)
    assert logits.shape == (3, 16, 65)
    assert abs(loss.item() - math.log(65)) < 0.1  # small init: close to a uniform guess


def test_initialisation_follows_the_documented_scheme():
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=256, bias=True))
    assert abs(model.blocks[0].mlp.fc.weight.std().item() - 0.02) < 0.002
    residual = 0.02 / math.sqrt(2 * 4)
    assert abs(model.blocks[0].mlp.out_proj.weight.std().item() - residual) < 0.001
    assert abs(model.blocks[1].attn.out_proj.weight.std().item() - residual) < 0.001
    assert (model.blocks[0].attn.qkv.bias == 0).all()
    assert (model.final_norm.weight == 1).all()


def test_weight_tying_shares_one_matrix():
    tied, untied = tiny_gpt(), tiny_gpt(tie_weights=False)
    assert tied.lm_head.weight is tied.token_embedding.weight
    assert count_parameters(untied).total - count_parameters(tied).total == 65 * 32


def test_parameter_report_matches_closed_form():
    n_layer, d, block, vocab = 2, 32, 16, 65
    report = count_parameters(tiny_gpt())
    per_block = 12 * d * d + 2 * d  # attention 4d^2, MLP 8d^2, two norm weights (no biases)
    assert report.top_level("blocks") == n_layer * per_block
    assert report.non_embedding == n_layer * per_block + d  # + final norm
    assert report.total == report.non_embedding + vocab * d + block * d
    assert report.tied == {"lm_head.weight": "token_embedding.weight"}


def test_dropout_is_active_only_in_training():
    model = tiny_gpt(dropout=0.5)
    idx = torch.randint(65, (2, 16))
    model.train()
    assert not torch.equal(model(idx), model(idx))
    model.eval()
    assert torch.equal(model(idx), model(idx))


def test_attention_weights_of_every_layer():
    weights = tiny_gpt().attention_weights(torch.randint(65, (2, 7)))
    assert weights.shape == (2, 2, 2, 7, 7)


@pytest.mark.parametrize("prompt_length", [1, 5, 16, 40])
def test_greedy_decoding_with_and_without_cache_is_identical(prompt_length):
    model = tiny_gpt()
    idx = torch.randint(65, (3, prompt_length), generator=torch.Generator().manual_seed(prompt_length))
    # 60 new tokens run far past block_size=16, through several window slides
    cached = generate(model, idx, 60, temperature=0, use_cache=True)
    uncached = generate(model, idx, 60, temperature=0, use_cache=False)
    assert cached.shape == (3, prompt_length + 60)
    assert torch.equal(cached, uncached)


def test_first_token_uses_the_whole_window():
    model = tiny_gpt()
    idx = torch.randint(65, (1, 16))
    expected = model(idx)[:, -1].argmax(-1)
    assert generate(model, idx, 1, temperature=0)[0, -1] == expected


def test_seeded_sampling_repeats_and_generate_leaves_grad_mode_alone():
    model = tiny_gpt()
    idx = torch.zeros(2, 1, dtype=torch.long)
    a = generate(model, idx, 30, temperature=1.0, generator=torch.Generator().manual_seed(3))
    b = generate(model, idx, 30, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_top_k_and_top_p_filter_the_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))
    top2 = next_token_distribution(logits, top_k=2)
    torch.testing.assert_close(top2, torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]]))
    nucleus = next_token_distribution(logits, top_p=0.7)  # 0.5 + 0.25 reaches 0.7
    torch.testing.assert_close(nucleus, torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]]))
    assert next_token_distribution(logits, top_p=0.1)[0, 0] == 1.0  # the top token always stays
    cold = next_token_distribution(logits, temperature=0.1)
    assert cold[0, 0] > 0.99


def test_temperature_zero_is_greedy_and_reports_model_probability():
    logits = torch.log(torch.tensor([[0.2, 0.7, 0.1]]))
    token, prob = sample_next(logits, temperature=0)
    assert token.item() == 1
    assert prob.item() == pytest.approx(0.7)


def test_activation_checkpointing_gives_the_same_loss_and_gradients():
    plain = tiny_gpt(dropout=0.1)
    recomputed = tiny_gpt(dropout=0.1, checkpoint_activations=True)
    recomputed.load_state_dict(plain.state_dict())
    idx = torch.randint(0, 65, (3, 16), generator=torch.Generator().manual_seed(0))
    losses, block_calls = [], []
    for model in (plain, recomputed):
        model.train()
        calls = []
        model.blocks[0].register_forward_pre_hook(lambda *_, calls=calls: calls.append(1))
        torch.manual_seed(1)  # the same dropout masks; recomputation replays the RNG state
        loss = next_token_loss(model(idx), idx)
        loss.backward()
        losses.append(loss)
        block_calls.append(len(calls))
    assert block_calls == [1, 2]  # the checkpointed block ran again in the backward pass
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    for (name, a), b in zip(plain.named_parameters(), recomputed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
