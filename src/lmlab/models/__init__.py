"""Model families behind one interface: forward(idx, *, cache=None, segments=None) -> logits (B, T, V)."""

from __future__ import annotations

import torch

from lmlab.config import ModelConfig
from lmlab.models.attention_lm import AttentionLM
from lmlab.models.base import LanguageModel
from lmlab.models.bigram import Bigram, BigramEmbed
from lmlab.models.gpt import GPT
from lmlab.models.lstm import LSTM
from lmlab.models.size import check_fits

FAMILIES: dict[str, type[LanguageModel]] = {
    "bigram": Bigram,
    "bigram_embed": BigramEmbed,
    "attention": AttentionLM,
    "gpt": GPT,
    "lstm": LSTM,
}


def build_model(config: ModelConfig) -> LanguageModel:
    """The model named by `config.kind`, freshly initialised (on the CPU, so refused if its weights
    would not fit in the machine's memory)."""
    check_fits(config, torch.device("cpu"))
    return FAMILIES[config.kind](config)
