"""Model families behind one interface: forward(idx, targets=None) -> (logits, loss), generate(...)."""

from __future__ import annotations

from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.gpt import GPT


def build_model(config: ModelConfig) -> nn.Module:
    """The model named by `config.kind`, freshly initialised."""
    builders = {"gpt": GPT}
    return builders[config.kind](config)
