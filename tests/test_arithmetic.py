"""Modular arithmetic: the equations, the split, the right-hand-side loss, and what a run records."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from lmlab.cli.main import main
from lmlab.config import DataConfig, apply_overrides
from lmlab.data.arithmetic import equals_position, equations, order_of, split_equations
from lmlab.data.batches import PairBatches
from lmlab.data.pairs import load_pair_task
from lmlab.errors import LmlabError
from lmlab.evaluation.training_scores import parameter_norm
from lmlab.experiments.summary import summarize_run
from lmlab.inspect.attention import attention_map
from lmlab.loss import IGNORE_INDEX, sequence_loss_and_accuracy
from lmlab.models import build_model
from lmlab.plots.curves import loss_curves_figure
from lmlab.presets import load_preset
from lmlab.runs.checkpoint import load_weights
from lmlab.runs.run_dir import RunDir, load_model
from lmlab.runs.trainer import train

TINY_ARITH = [  # keys both families read (an LSTM has no heads: --set refuses model.n_head for it)
    "model.n_layer=1",
    "model.n_embd=16",
    "data.p=5",
    "train.max_steps=20",
    "train.eval_interval=10",
    "train.device=cpu",
]


def test_every_equation_is_generated_with_its_result():
    assert len(equations(31, "+", 2)) == 31**2
    assert len(equations(11, "+", 3)) == 11**3
    assert len(equations(7, "/", 2)) == 7 * 6  # no division by zero
    assert len(equations(7, "/", 3)) == 7 * 6 * 6
    assert ("3 + 5 =", "8") in equations(11, "+", 2)
    assert ("3 - 5 =", "9") in equations(11, "-", 2)
    assert ("3 * 5 =", "4") in equations(11, "*", 2)
    assert ("2 + 3 + 9 =", "3") in equations(11, "+", 3)
    for source, target in equations(7, "/", 2):  # r = a / b  <=>  r * b = a (mod p)
        a, _, b, _ = source.split()
        assert int(target) * int(b) % 7 == int(a)
    assert len(set(equations(13, "*", 3))) == 13**3


def test_orders_and_equals_positions_match_the_seed():
    assert order_of("1 + 2 =") == 2 and order_of("1 + 2 + 3 =") == 3
    assert equals_position("1 + 2 =") == 3 and equals_position("1 + 2 + 3 =") == 5


def test_the_split_is_stratified_by_order_and_seeded():
    config = DataConfig(dataset="arithmetic", tokenizer="word", p=11, operation_orders="2,3", r_train=0.5)
    train, val = split_equations(config)
    assert not set(train) & set(val)
    assert len(train) + len(val) == 11**2 + 11**3
    by_order = Counter(order_of(s) for s, _ in train)
    assert by_order == {2: int(0.5 * 121), 3: int(0.5 * 1331)}  # each order halved on its own
    assert split_equations(config) == (train, val)
    other, _ = split_equations(DataConfig(**{**config.__dict__, "split_seed": 1}))
    assert other != train


def test_tokenizer_and_batches_put_the_loss_on_the_right_hand_side_only():
    config = apply_overrides(load_preset("arith-gpt"), ["data.p=7", "data.operation_orders=2,3"])
    task = load_pair_task(config.data)
    tokens = task.tokenizer.tokens
    assert len(tokens) == 7 + 6 and tokens[4:11] == [str(n) for n in range(7)] and tokens[-2:] == ["+", "="]
    batches = PairBatches(task, 64, config.model.block_size, seed=0)
    batch = next(batches.loss_batches("val", 1, 0))
    assert batches.group_names == ["order2", "order3"]
    equals_id = task.tokenizer.token_to_id["="]
    for row in range(batch.inputs.size(0)):
        counted = (batch.targets[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        eq = (batch.inputs[row] == equals_id).nonzero().item()
        assert counted == [eq, eq + 1]  # "=" predicts r, r predicts </s>
        assert batch.groups[row] == (0 if eq == 4 else 1)


def _seed_loss_and_accuracy(logits, Y, eq_positions, pad_id):
    """Assignment 002, problem 3, as loops: RHS(y) = positions after '=' whose target is not PAD."""
    losses, accuracies = [], []
    for i in range(logits.size(0)):
        rhs = [j for j in range(Y.size(1)) if j > eq_positions[i] and Y[i, j] != pad_id]
        log_p = torch.log_softmax(logits[i], dim=-1)
        losses.append(-sum(log_p[j, Y[i, j]].item() for j in rhs) / len(rhs))
        accuracies.append(float(all(logits[i, j].argmax().item() == Y[i, j].item() for j in rhs)))
    return torch.tensor(losses), torch.tensor(accuracies)


def test_vectorised_loss_equals_the_formula_in_loops():
    config = apply_overrides(load_preset("arith-gpt"), ["data.p=5", "data.operation_orders=2,3"])
    task = load_pair_task(config.data)
    tokenizer = task.tokenizer
    batch = next(PairBatches(task, 40, 16, seed=0).loss_batches("val", 1, 0))  # the first 40, in order
    # the arithmetic assignment's tensors: Y = sequence[1:] padded with PAD, eq_positions = index of "=" in Y
    sequences = [
        [tokenizer.bos_id, *tokenizer.encode(s), *tokenizer.encode(t), tokenizer.eos_id]
        for s, t in task.val[:40]
    ]
    width = max(len(seq) for seq in sequences) - 1
    Y = torch.tensor([seq[1:] + [tokenizer.pad_id] * (width + 1 - len(seq)) for seq in sequences])
    eq_positions = [seq[1:].index(tokenizer.token_to_id["="]) for seq in sequences]
    assert sorted(set(eq_positions)) == [3, 5]
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(40, width, tokenizer.vocab_size, generator=generator)
    for row in range(0, 40, 3):  # some rows exactly right, so accuracy sees both outcomes
        for j in range(eq_positions[row] + 1, width):
            logits[row, j, Y[row, j]] = 100.0
    expected_loss, expected_acc = _seed_loss_and_accuracy(logits, Y, eq_positions, tokenizer.pad_id)

    loss, acc = sequence_loss_and_accuracy(logits, batch.targets, reduction="none")
    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(acc, expected_acc)
    assert 0 < acc.mean() < 1
    mean_loss, mean_acc = sequence_loss_and_accuracy(logits, batch.targets, reduction="mean")
    sum_loss, sum_acc = sequence_loss_and_accuracy(logits, batch.targets, reduction="sum")
    torch.testing.assert_close(mean_loss, expected_loss.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sum_loss, expected_loss.sum(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(mean_acc, expected_acc.mean())
    torch.testing.assert_close(sum_acc, expected_acc.sum())
    with pytest.raises(ValueError, match="reduction"):
        sequence_loss_and_accuracy(logits, batch.targets, reduction="max")


@pytest.mark.parametrize("preset", ["arith-gpt", "arith-lstm"])
def test_a_run_records_accuracy_per_order_and_the_parameter_norm(tmp_path, preset):
    config = apply_overrides(load_preset(preset), [*TINY_ARITH, "data.operation_orders=2,3"])
    train(config, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    records = run.metrics()
    assert [r["step"] for r in records] == [0, 10, 20]
    last = records[-1]
    task = load_pair_task(config.data)
    for split in ("train", "val"):
        for name in ("loss", "acc", "loss_order2", "acc_order2", "loss_order3", "acc_order3"):
            assert f"{split}_{name}" in last
        # the whole split's accuracy is the pair-count-weighted mean of the per-order ones
        counts = Counter(order_of(s) for s, _ in task.split(split))
        mixed = (counts[2] * last[f"{split}_acc_order2"] + counts[3] * last[f"{split}_acc_order3"]) / (
            counts[2] + counts[3]
        )
        assert math.isclose(last[f"{split}_acc"], mixed, abs_tol=1e-9)
    model = build_model(run.config().model)
    load_weights(run.last_checkpoint, model)
    assert math.isclose(last["param_norm"], parameter_norm(model), rel_tol=1e-4)
    assert records[0]["param_norm"] != last["param_norm"]
    # `lmlab plot` draws the binary and ternary equations' curves in rows of their own
    assert main(["plot", str(run.path)]) == 0
    assert (run.path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    figure = loss_curves_figure({"run": records})
    assert [ax.get_title() for ax in figure.axes][5] == (
        "Training and validation accuracy: ternary (order 3) equations"
    )
    ternary = summarize_run(records, group="order3")
    assert ternary["A_val"] == max(r["val_acc_order3"] for r in records)


def test_bad_arithmetic_settings_name_the_fix():
    with pytest.raises(LmlabError, match="prime"):
        DataConfig(dataset="arithmetic", tokenizer="word", p=12, operator="/")
    with pytest.raises(LmlabError, match="operation_orders"):
        DataConfig(dataset="arithmetic", tokenizer="word", operation_orders="4")
    with pytest.raises(LmlabError, match="operator"):
        DataConfig(dataset="arithmetic", tokenizer="word", operator="^")
    with pytest.raises(LmlabError, match="r_train"):
        DataConfig(dataset="arithmetic", tokenizer="word", r_train=1.0)


def test_attention_grid_of_an_arithmetic_run(tmp_path, capsys):
    config = apply_overrides(load_preset("arith-gpt"), [*TINY_ARITH, "model.n_layer=2", "model.n_head=2"])
    train(config, tmp_path / "run", progress=False)
    assert main(["attention", str(tmp_path / "run"), "--prompt", "3 + 4 ="]) == 0
    printed = capsys.readouterr().out
    assert "next token" in printed and (tmp_path / "run" / "attention.png").read_bytes()[:4] == b"\x89PNG"
    _, tokenizer, model = load_model(RunDir(tmp_path / "run"))
    found = attention_map(model, tokenizer, "3 + 4 =", True)
    assert found.tokens == ["<s>", "3", "+", "4", "="] and found.attentions.shape == (2, 2, 5, 5)
    assert found.next_token in [str(n) for n in range(5)] + ["<s>", "</s>", "<pad>", "<unk>", "+", "="]
    assert main(["attention", str(tmp_path / "run"), "--prompt", "3 + 9 ="]) == 2
    assert "does not know: 9" in capsys.readouterr().err


def test_attention_of_an_lstm_run_is_a_one_line_error(tmp_path, capsys):
    train(apply_overrides(load_preset("arith-lstm"), TINY_ARITH), tmp_path / "run", progress=False)
    assert main(["attention", str(tmp_path / "run"), "--prompt", "3 + 4 ="]) == 2
    assert "has no attention" in capsys.readouterr().err
