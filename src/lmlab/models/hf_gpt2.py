"""lmlab's GPT as a Hugging Face `transformers` GPT-2, and back: the same network, weights copied.

GPT-2 is lmlab's GPT with model.norm=layernorm, model.position=learned, model.bias=true,
model.activation=gelu (exact erf GELU, `nn.GELU()`: HF's "gelu", not the tanh "gelu_new"), no
attention window, no segment embeddings, no qk_norm, x0_skip or value_embeddings; model.mlp_ratio,
model.tie_weights and model.zero_init_proj (a starting point only, not a different network) carry over.
Tensor by tensor (HF's Conv1D stores a Linear's weight transposed, (in, out)):

    token_embedding           transformer.wte
    position_embedding        transformer.wpe
    blocks.i.norm_attn        transformer.h.i.ln_1
    blocks.i.attn.qkv         transformer.h.i.attn.c_attn     (fused q, k, v in the same order)
    blocks.i.attn.out_proj    transformer.h.i.attn.c_proj
    blocks.i.norm_mlp         transformer.h.i.ln_2
    blocks.i.mlp.fc           transformer.h.i.mlp.c_fc
    blocks.i.mlp.out_proj     transformer.h.i.mlp.c_proj
    final_norm                transformer.ln_f
    lm_head                   lm_head                         (the wte matrix itself when tied)

`transformers` is optional and imported only when an HF model is built: pip install transformers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lmlab.config import ModelConfig
from lmlab.errors import LmlabError
from lmlab.models.gpt import GPT
from lmlab.models.layers import LayerNorm


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise LmlabError(
            "converting to Hugging Face GPT-2 needs transformers; pip install transformers"
        ) from None
    return transformers


def gpt2_config_for(config: ModelConfig) -> dict[str, Any]:
    """Keyword arguments of the `transformers.GPT2Config` that is the same network as lmlab's `config`."""
    fixes = [
        f"{key}={want} (not {have})"
        for key, have, want in [
            ("model.kind", config.kind, "gpt"),
            ("model.norm", config.norm, "layernorm"),
            ("model.position", config.position, "learned"),
            ("model.bias", str(config.bias).lower(), "true"),
            ("model.attention_bias", str(config.attention_has_bias).lower(), "true"),
            ("model.mlp_bias", str(config.mlp_has_bias).lower(), "true"),
            ("model.lm_head_bias", str(config.lm_head_has_bias).lower(), "false"),
            ("model.causal", str(config.causal).lower(), "true"),
            ("model.activation", config.activation, "gelu"),
            ("model.attention_window", config.attention_window, 0),
            ("model.segment_embeddings", str(config.segment_embeddings).lower(), "false"),
            ("model.qk_norm", str(config.qk_norm).lower(), "false"),
            ("model.x0_skip", str(config.x0_skip).lower(), "false"),
            ("model.value_embeddings", str(config.value_embeddings).lower(), "false"),
        ]
        if have != want
    ]
    if fixes:
        raise LmlabError(f"GPT-2 cannot express this model; set {', '.join(fixes)}")
    return {
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": config.mlp_hidden,
        "activation_function": "gelu",  # exact erf GELU, as nn.GELU(); "gelu_new" is the tanh one
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.attention_dropout_p,
        "layer_norm_epsilon": LayerNorm(1).eps,  # make_norm keeps LayerNorm's default eps: read it there
        "initializer_range": config.init_std,
        "tie_word_embeddings": config.tie_weights,
        "bos_token_id": None,  # GPT-2's 50256 is outside a small vocabulary; generate runs to the end
        "eos_token_id": None,
    }


def to_hf_gpt2(model: GPT, attn_implementation: str = "sdpa") -> nn.Module:
    """A `transformers.GPT2LMHeadModel` holding copies of `model`'s weights, in `model`'s mode."""
    transformers = _transformers()
    # sdpa is the fused kernel lmlab's GPT calls too; eager is HF's explicit softmax(q k^T / sqrt(D)) v
    hf_config = transformers.GPT2Config(
        **gpt2_config_for(model.config), attn_implementation=attn_implementation
    )
    weight = model.lm_head.weight
    hf_model = transformers.GPT2LMHeadModel(hf_config).to(device=weight.device, dtype=weight.dtype)
    copy_weights_to_hf(model, hf_model)
    return hf_model.train(model.training)


@torch.no_grad()
def copy_weights_to_hf(model: GPT, hf_model: nn.Module) -> None:
    """Overwrite every tensor of a GPT2LMHeadModel built from gpt2_config_for(model.config)."""
    for ours, theirs, transposed in _tensor_pairs(model, hf_model):
        theirs.copy_(ours.t() if transposed else ours)


@torch.no_grad()
def copy_weights_from_hf(hf_model: nn.Module, model: GPT) -> None:
    """Overwrite every tensor of lmlab's GPT (built from the matching config) from a GPT2LMHeadModel."""
    for ours, theirs, transposed in _tensor_pairs(model, hf_model):
        ours.copy_(theirs.t() if transposed else theirs)


def _tensor_pairs(model: GPT, hf_model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """(lmlab tensor, HF tensor, whether HF stores it transposed) for every tensor of the two models."""
    hf_eps = hf_model.config.layer_norm_epsilon
    if model.config.tie_weights != (hf_model.lm_head.weight is hf_model.transformer.wte.weight):
        raise LmlabError(
            f"model.tie_weights={model.config.tie_weights} but the HF model's tie_word_embeddings differs; "
            "build the HF model from gpt2_config_for(model.config)"
        )
    hf = hf_model.transformer
    pairs = [(model.token_embedding.weight, hf.wte.weight, False)]
    pairs.append((model.position_embedding.weight, hf.wpe.weight, False))
    norms = [(model.final_norm, hf.ln_f)]
    for block, hf_block in zip(model.blocks, hf.h, strict=True):
        norms += [(block.norm_attn, hf_block.ln_1), (block.norm_mlp, hf_block.ln_2)]
        for linear, conv1d in [
            (block.attn.qkv, hf_block.attn.c_attn),
            (block.attn.out_proj, hf_block.attn.c_proj),
            (block.mlp.fc, hf_block.mlp.c_fc),
            (block.mlp.out_proj, hf_block.mlp.c_proj),
        ]:
            pairs += [(linear.weight, conv1d.weight, True), (linear.bias, conv1d.bias, False)]
    for norm, hf_norm in norms:
        if norm.eps != hf_eps:
            raise LmlabError(
                f"HF layer_norm_epsilon is {hf_eps}, lmlab's LayerNorm eps {norm.eps}; set it to that"
            )
        pairs += [(norm.weight, hf_norm.weight, False), (norm.bias, hf_norm.bias, False)]
    if not model.config.tie_weights:
        pairs.append((model.lm_head.weight, hf_model.lm_head.weight, False))
    for ours, theirs, transposed in pairs:
        if (ours.t() if transposed else ours).shape != theirs.shape:
            raise LmlabError(
                f"shapes differ: lmlab {tuple(ours.shape)}, HF {tuple(theirs.shape)}; "
                "build the HF model from gpt2_config_for(model.config)"
            )
    return pairs
