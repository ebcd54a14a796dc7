"""Initial weights, chosen by model.init: one rule for every family that has Linear and Embedding layers.

- gpt2: weights N(0, init_std), biases 0; a GPT's projections that write into the residual stream
  (attn.out_proj, mlp.out_proj) N(0, init_std / sqrt(2 n_layer)), so the residual's variance does
  not grow with depth (Radford et al. 2019). Without a residual stream this equals `normal`.
- normal: weights N(0, init_std) everywhere, biases 0 (minGPT's and the course notebooks' scheme).
- pytorch: each layer's own default, as a notebook gets from nn.Linear (uniform, Kaiming) and
  nn.Embedding (N(0, 1)); init_std is unused.
Norm layers start at weight 1, bias 0 under every scheme.

Under every scheme, model.zero_init_proj then zeroes a GPT's attn.out_proj and mlp.out_proj (weights
and biases: each block starts as the identity on the residual stream, modded-nanogpt's init), and a
value embedding's weight λ starts at 0 (the plain model at the start).
"""

from __future__ import annotations

import math

from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.layers import CausalSelfAttention, LayerNorm, RMSNorm


def init_weights(model: nn.Module, config: ModelConfig) -> None:
    """(Re)initialise every Linear, Embedding and norm layer of `model` by config.init."""
    std = config.init_std
    residual_std = std / math.sqrt(2 * config.n_layer) if config.init == "gpt2" else std
    drawn: set[int] = set()  # a tied output layer keeps the embedding's draw, as a notebook's tying does
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Embedding)) and config.init == "pytorch":
            if id(module.weight) not in drawn:
                module.reset_parameters()
            elif module.bias is not None:
                bound = module.weight.size(1) ** -0.5
                nn.init.uniform_(module.bias, -bound, bound)
            drawn.add(id(module.weight))
        elif isinstance(module, nn.Linear):
            scale = residual_std if name.endswith("out_proj") and name.startswith("blocks.") else std
            nn.init.normal_(module.weight, mean=0.0, std=scale)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, (LayerNorm, RMSNorm)):
            nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, CausalSelfAttention) and module.value_lambda is not None:
            nn.init.zeros_(module.value_lambda)
    if config.zero_init_proj:
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and name.endswith("out_proj") and name.startswith("blocks."):
                nn.init.zeros_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
