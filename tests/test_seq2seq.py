import torch

from lmlab.data.scan import generate_commands
from lmlab.data.seq2seq import collate, encode_pair, longest_lengths
from lmlab.loss import IGNORE_INDEX, next_token_loss
from lmlab.tokenizers import WordTokenizer


def _tokenizer():
    return WordTokenizer.fit(["walk twice jump left I_WALK I_JUMP I_TURN_LEFT"])


def test_only_target_tokens_and_end_are_predicted():
    tokenizer = _tokenizer()
    short = encode_pair(tokenizer, "walk twice", "I_WALK I_WALK")
    long = encode_pair(tokenizer, "jump left", "I_TURN_LEFT I_JUMP I_WALK")
    batch = collate([short, long], tokenizer.pad_id)
    assert batch.inputs.shape == (2, len(long.ids) - 1)  # padded to this batch's longest
    assert tokenizer.decode(batch.inputs[0, :5].tolist()) == "<s> walk twice I_WALK I_WALK"
    assert batch.inputs[0, -1] == tokenizer.pad_id
    counted = [tokenizer.decode([t]) for t in batch.targets[0].tolist() if t != IGNORE_INDEX]
    assert counted == ["I_WALK", "I_WALK", "</s>"]
    counted = [tokenizer.decode([t]) for t in batch.targets[1].tolist() if t != IGNORE_INDEX]
    assert counted == ["I_TURN_LEFT", "I_JUMP", "I_WALK", "</s>"]
    assert batch.segments[0].tolist() == [0, 0, 0, 1, 1, 1]


def test_masked_loss_averages_over_target_tokens_only():
    tokenizer = _tokenizer()
    batch = collate([encode_pair(tokenizer, "walk twice", "I_WALK I_WALK")], tokenizer.pad_id)
    logits = torch.randn(1, batch.inputs.size(1), tokenizer.vocab_size)
    log_probs = logits.log_softmax(-1)[0]
    positions = [j for j, t in enumerate(batch.targets[0].tolist()) if t != IGNORE_INDEX]
    expected = -sum(log_probs[j, batch.targets[0, j]] for j in positions) / len(positions)
    torch.testing.assert_close(next_token_loss(logits, batch.targets), expected)


def test_scan_longest_command_and_action_sequence():
    assert longest_lengths(generate_commands()) == (9, 48)
