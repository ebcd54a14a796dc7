"""A typed prompt of a pair task is read with the segments training used (one rule for both)."""

import torch

from lmlab.config import ModelConfig
from lmlab.data.scan import generate_commands
from lmlab.data.seq2seq import collate, encode_pair, encode_prompt, segment_ids
from lmlab.inspect.attention import attention_map
from lmlab.inspect.next_token import next_tokens
from lmlab.models import build_model
from lmlab.tokenizers.word import WordTokenizer


def _scan_model_and_tokenizer():
    tokenizer = WordTokenizer.fit([text for pair in generate_commands()[:200] for text in pair])
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16,
        dropout=0.0, segment_embeddings=True,
    )  # fmt: skip
    model = build_model(config).eval()
    with torch.no_grad():  # segment vectors far apart, so reading the wrong segment shows
        model.segment_embedding.weight.mul_(50)
    return model, tokenizer


def test_prompt_segments_follow_the_rule_of_training_batches():
    tokenizer = WordTokenizer(["jump", "twice", "I_JUMP"])
    batch = collate([encode_pair(tokenizer, "jump twice", "I_JUMP I_JUMP")], tokenizer.pad_id)
    ids, segments = encode_prompt(tokenizer, "jump twice OUT: I_JUMP I_JUMP")
    assert ids + [tokenizer.eos_id] == [tokenizer.bos_id, *tokenizer.encode("jump twice I_JUMP I_JUMP")] + [
        tokenizer.eos_id
    ]
    assert segments == batch.segments[0].tolist() == [0, 0, 0, 1, 1]
    assert encode_prompt(tokenizer, "jump twice")[1] == [0, 0, 0] == segment_ids(2, 3)


def test_next_tokens_and_attention_read_the_target_part_as_target():
    model, tokenizer = _scan_model_and_tokenizer()
    prompt = "jump twice OUT: I_JUMP"
    ids = [tokenizer.bos_id, *tokenizer.encode("jump twice I_JUMP")]
    right = torch.tensor([[0, 0, 0, 1]])
    with torch.no_grad():
        expected = torch.softmax(model(torch.tensor([ids]), segments=right)[0, -1], dim=-1)
        all_source = torch.softmax(model(torch.tensor([ids]), segments=torch.zeros_like(right))[0, -1], -1)
    assert not torch.allclose(expected, all_source, atol=1e-3)  # the segments matter to this model

    ranked = next_tokens(model, tokenizer, prompt, is_pair_task=True, top=tokenizer.vocab_size)
    got = torch.zeros(tokenizer.vocab_size)
    for candidate in ranked:
        got[candidate.token_id] = candidate.probability
    torch.testing.assert_close(got, expected)

    found = attention_map(model, tokenizer, prompt, is_pair_task=True)
    best = int(expected.argmax())
    assert found.next_token == tokenizer.token_text(best)
    assert abs(found.probability - float(expected[best])) < 1e-6
    with torch.no_grad():
        weights = model.inspect(torch.tensor([ids]), right).attentions[0]
    torch.testing.assert_close(found.attentions, weights)
