"""How large a model is before it is built: parameters from the config alone, and whether they fit.

`estimate_parameters` is arithmetic on ModelConfig, one branch per family, so a config of 10^9 layers
is measured without allocating it; tests check it against `count_parameters` of built models.
"""

from __future__ import annotations

import torch

from lmlab.config import ModelConfig
from lmlab.device import total_memory_bytes
from lmlab.errors import LmlabError
from lmlab.models.position_bias import RELATIVE_BUCKETS

BYTES_PER_WEIGHT = 4  # float32
BYTES_TO_TRAIN = 16  # float32 weights, their gradients and AdamW's two moments


def estimate_parameters(config: ModelConfig) -> int:
    """Parameters of `build_model(config)`, tied weights counted once, without building it."""
    V, C = config.vocab_size, config.n_embd
    if config.kind == "bigram":
        return V * V  # the logits table
    if config.kind == "bigram_embed":
        return V * C + C * V + V  # embedding, readout with bias
    if config.kind == "lstm":
        hidden = config.lstm_hidden
        gates = 4 * hidden  # i, f, g, o
        biases = config.n_layer * gates if config.bias else 0
        layers = (C + hidden) * gates + (config.n_layer - 1) * 2 * hidden * gates + biases
        return (
            V * C + layers + hidden * V + (V if config.lm_head_has_bias else 0)
        )  # embedding, gates, readout
    positions = config.block_size * C if config.position == "learned" else 0
    if config.kind == "attention":
        return V * C + positions + _attention(config) + C * V + V  # readout with bias
    segments = 2 * C if config.segment_embeddings else 0
    if config.position == "relative":  # one learned table for every layer
        positions = RELATIVE_BUCKETS * config.n_head
    mlp = 2 * C * config.mlp_hidden + (config.mlp_hidden + C if config.mlp_has_bias else 0)
    block = 2 * _norm(config) + _attention(config) + mlp
    head = (0 if config.tie_weights else C * V) + (V if config.lm_head_has_bias else 0)
    x0_lambdas = 2 * config.n_layer if config.x0_skip else 0  # (a_i, b_i) per block
    value_tables = config.n_layer * V * C if config.value_embeddings else 0  # one (V, C) table per layer
    extras = x0_lambdas + value_tables
    return V * C + positions + segments + config.n_layer * block + _norm(config) + head + extras


def _attention(config: ModelConfig) -> int:
    C = config.n_embd
    qkv = 3 * C * C + (3 * C if config.qkv_has_bias else 0)  # C -> 3C
    out_proj = C * C + (C if config.attention_has_bias else 0) if config.attention_out_proj else 0
    value_lambda = 1 if config.value_embeddings else 0  # the value embedding's weight
    return qkv + out_proj + value_lambda


def _norm(config: ModelConfig) -> int:
    if config.norm == "none":
        return 0
    if config.norm == "rmsnorm":
        return config.n_embd
    return config.n_embd * (2 if config.bias else 1)


def buffer_elements(config: ModelConfig) -> int:
    """Fixed tables a GPT allocates beside its parameters: sinusoidal positions, rotary cos and sin."""
    if config.kind != "gpt":
        return 0
    if config.position == "sinusoidal":
        return config.block_size * config.n_embd
    if config.position == "rotary":
        return config.n_layer * 2 * config.block_size * config.head_size
    return 0


def check_fits(
    config: ModelConfig,
    device: torch.device,
    bytes_per_parameter: int = BYTES_PER_WEIGHT,
    what: str = "its weights",  # plural: "... need N GiB"
) -> None:
    """Refuse in one line a model whose parameters (at `bytes_per_parameter`) exceed `device`'s memory."""
    parameters, buffers = estimate_parameters(config), buffer_elements(config)
    needed = bytes_per_parameter * parameters + BYTES_PER_WEIGHT * buffers
    available = total_memory_bytes(device)
    if available is None or needed <= available:
        return
    tables = f" (and {buffers:.3g} entries of position tables)" if buffers else ""
    raise LmlabError(
        f"this {config.kind} model has about {parameters:.3g} parameters{tables}, and {what} need "
        f"{needed / 2**30:,.1f} GiB, more than the {available / 2**30:,.1f} GiB of this {device.type}; "
        "lower model.n_layer, model.n_embd or model.block_size"
    )
