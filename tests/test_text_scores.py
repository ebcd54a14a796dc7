import math

import pytest
import torch
from torch import nn

from lmlab.evaluation.text_scores import TextSplitScore, score_text_split, target_characters
from lmlab.tokenizers.char import CharTokenizer


class Uniform(nn.Module):
    """Equal logits for every token: loss ln |V| on any text."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, idx: torch.Tensor, **_) -> torch.Tensor:
        return torch.zeros(*idx.shape, self.vocab_size)  # (B, T, V)


class TwoCharacterTokens:
    """Every token spells two characters."""

    def decode(self, ids: list[int]) -> str:
        return "ab" * len(ids)


def test_a_character_model_scores_the_same_per_token_and_per_character():
    text = "to be, or not to be: that is the question"
    tokenizer = CharTokenizer.fit(text)
    ids = torch.tensor(tokenizer.encode(text))
    score = score_text_split(Uniform(tokenizer.vocab_size), tokenizer, ids, 8, 2, torch.device("cpu"))
    assert score.tokens == score.characters == len(text) - 1  # every token but the first is a target
    assert score.loss == pytest.approx(math.log(tokenizer.vocab_size))
    assert score.perplexity == pytest.approx(tokenizer.vocab_size)
    assert score.bits_per_token == pytest.approx(math.log2(tokenizer.vocab_size))
    assert score.bits_per_character == pytest.approx(score.bits_per_token)


def test_bits_per_character_spreads_a_token_over_the_characters_it_spells():
    ids = torch.arange(11)
    assert target_characters(TwoCharacterTokens(), ids) == 20
    score = TextSplitScore(tokens=10, characters=20, loss=math.log(4))  # 2 bits a token
    assert (score.bits_per_token, score.bits_per_character) == pytest.approx((2.0, 1.0))
