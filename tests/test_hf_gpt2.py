"""lmlab's GPT against Hugging Face's GPT-2 with copied weights: same logits, same greedy tokens."""

import sys

import pytest
import torch

from lmlab.config import ModelConfig
from lmlab.errors import LmlabError
from lmlab.generation.decode import generate
from lmlab.models import build_model
from lmlab.models.hf_gpt2 import copy_weights_from_hf, copy_weights_to_hf, gpt2_config_for, to_hf_gpt2

pytest.importorskip("transformers")  # a guard only: the dev extra installs it


def random_gpt(**changes) -> torch.nn.Module:
    """A tiny GPT-2-shaped lmlab GPT whose every tensor is random, norms and biases included.

    Weights 10x GPT-2's 0.02 put the MLP's inputs where exact and tanh GELU differ by ~1e-3 in the
    logits, so the tolerance below tells the two apart.
    """
    fields = dict(
        vocab_size=65, block_size=24, n_layer=2, n_head=4, n_embd=32, dropout=0.0, bias=True, init_std=0.2
    )
    torch.manual_seed(0)
    model = build_model(ModelConfig(**fields | changes)).eval()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if "norm" in name:  # initialised to exactly 1 and 0, which would hide a swapped weight and bias
                tensor.add_(0.1 * torch.randn_like(tensor))
            elif name.endswith("bias"):
                tensor.normal_(0.0, 0.02)
    return model


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("tie_weights", [True, False])
def test_copied_weights_give_the_same_logits(tie_weights, attn_implementation):
    model = random_gpt(tie_weights=tie_weights, mlp_ratio=3.0)
    hf_model = to_hf_gpt2(model, attn_implementation)
    assert not hf_model.training
    assert (hf_model.lm_head.weight is hf_model.transformer.wte.weight) == tie_weights
    idx = torch.randint(65, (3, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(idx), hf_model(idx).logits  # (B, T, V) each
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_greedy_decoding_with_the_cache_gives_the_same_tokens():
    model = random_gpt()
    hf_model = to_hf_gpt2(model)
    prompt = torch.randint(65, (2, 3), generator=torch.Generator().manual_seed(2))
    ours = generate(model, prompt, 20, temperature=0, use_cache=True)
    theirs = hf_model.generate(prompt, max_new_tokens=20, do_sample=False, use_cache=True)
    assert ours.shape == (2, 23)
    assert torch.equal(ours, theirs)


def test_weights_copy_back_from_hf():
    model = random_gpt(tie_weights=False)
    other = build_model(model.config).eval()  # freshly initialised: unit norms, zero biases
    copy_weights_from_hf(to_hf_gpt2(model), other)
    idx = torch.randint(65, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(other(idx), model(idx), rtol=0, atol=0)


def test_configs_gpt2_cannot_express_are_refused_naming_the_fix():
    with pytest.raises(LmlabError, match=r"set model\.norm=layernorm \(not rmsnorm\)"):
        gpt2_config_for(ModelConfig(vocab_size=65, norm="rmsnorm", bias=True))
    with pytest.raises(LmlabError, match=r"model\.position=learned \(not rotary\), model\.bias=true"):
        gpt2_config_for(ModelConfig(vocab_size=65, position="rotary"))


def test_a_mismatched_hf_model_is_refused():
    with pytest.raises(LmlabError, match="tie_word_embeddings"):
        copy_weights_to_hf(random_gpt(), to_hf_gpt2(random_gpt(tie_weights=False)))
    with pytest.raises(LmlabError, match=r"shapes differ: lmlab \(65, 32\), HF \(65, 64\)"):
        copy_weights_to_hf(random_gpt(), to_hf_gpt2(random_gpt(n_embd=64)))


def test_missing_transformers_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now raises ImportError
    with pytest.raises(LmlabError, match="pip install transformers"):
        to_hf_gpt2(random_gpt())
