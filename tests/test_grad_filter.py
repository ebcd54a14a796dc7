"""train.grad_filter (Grokfast): the filters follow their formulas, train, survive a resume exactly."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from lmlab.config import apply_overrides
from lmlab.errors import LmlabError
from lmlab.presets import load_preset
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train
from lmlab.training.grad_filter import GradFilter

# a one-layer grokking model on the 25 equations of Z_5: a few steps take a fraction of a second
SMALL = [
    "data.p=5",
    "model.n_embd=32",
    "train.max_steps=8",
    "train.warmup_steps=2",
    "train.eval_interval=4",
    "train.log_interval=2",
    "train.device=cpu",
]


def small(*extra: str):
    return apply_overrides(load_preset("grokking"), [*SMALL, *extra])


def _feed(model: nn.Module, grad_filter: GradFilter, gradients: list[torch.Tensor]) -> list[torch.Tensor]:
    """Hand `gradients` to the filter one step at a time as the weight's gradient; the filtered ones."""
    out = []
    for g in gradients:
        model.weight.grad = g.clone()
        grad_filter.apply(model)
        out.append(model.weight.grad.clone())
    return out


def _gradients(n: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, generator=generator, dtype=torch.float64) for _ in range(n)]


def _linear() -> nn.Module:
    return nn.Linear(3, 2, bias=False).double()


def test_ema_filter_adds_lambda_times_the_exponential_average():
    gradients, alpha, lam = _gradients(6), 0.9, 2.5
    out = _feed(_linear(), GradFilter("ema", alpha, lam, window=1), gradients)
    h = gradients[0]  # h starts as the first gradient
    for t, g in enumerate(gradients):
        h = h if t == 0 else alpha * h + (1 - alpha) * g
        torch.testing.assert_close(out[t], g + lam * h)


def test_ma_filter_adds_lambda_times_the_mean_of_the_last_window_gradients():
    gradients, lam, window = _gradients(7), 1.5, 3
    out = _feed(_linear(), GradFilter("ma", 0.98, lam, window), gradients)
    for t, g in enumerate(gradients):
        mean = torch.stack(gradients[max(0, t - window + 1) : t + 1]).mean(0)
        torch.testing.assert_close(out[t], g + lam * mean)


@pytest.mark.parametrize("kind", ["ema", "ma"])
def test_a_filter_taken_back_from_its_state_continues_exactly(kind):
    gradients = _gradients(9)
    straight = _feed(_linear(), GradFilter(kind, 0.9, 2.0, 4), gradients)
    first = GradFilter(kind, 0.9, 2.0, 4)
    _feed(_linear(), first, gradients[:5])  # past a full window: the ring has wrapped
    state = {key: t.clone() for key, t in first.state_dict().items()}
    second = GradFilter(kind, 0.9, 2.0, 4)
    second.load_state_dict(state, _linear())
    resumed = _feed(_linear(), second, gradients[5:])
    assert all(torch.equal(a, b) for a, b in zip(straight[5:], resumed, strict=True))


def test_overflowed_gradients_leave_the_filter_as_it_was():
    model, grad_filter = _linear(), GradFilter("ema", 0.9, 2.0, 1)
    _feed(model, grad_filter, _gradients(2))
    before = grad_filter.state_dict()["ema.weight"].clone()
    model.weight.grad = torch.full((2, 3), float("inf"), dtype=torch.float64)
    grad_filter.apply(model, check_finite=True)  # float16: the scaler skips this step
    assert torch.equal(grad_filter.state_dict()["ema.weight"], before)


def test_a_run_with_the_filter_trains(tmp_path):
    config = small("train.grad_filter=ema", "train.max_steps=30", "train.eval_interval=10")
    train(config, tmp_path / "run", progress=False)
    losses = [r["train_loss"] for r in RunDir(tmp_path / "run").metrics()]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "extra", [["train.grad_filter=ema"], ["train.grad_filter=ma", "train.grad_filter_window=3"]]
)
def test_resume_with_the_filter_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, extra):
    config = small(*extra)
    train(config, tmp_path / "straight", progress=False)
    assert train(config, tmp_path / "resumed", stop_after_step=5, progress=False).step == 5
    saved = load_file(tmp_path / "resumed" / "checkpoints" / "last" / "grad_filter.safetensors")
    kind = config.train.grad_filter
    assert any(key.startswith(f"{kind}.blocks.") for key in saved)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = (
        load_file(tmp_path / run / "checkpoints" / "last" / "model.safetensors")
        for run in ("straight", "resumed")
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lambda_zero_is_no_filter_bit_for_bit(tmp_path):
    train(small(), tmp_path / "none", progress=False)
    train(small("train.grad_filter=ema", "train.grad_filter_lambda=0"), tmp_path / "zero", progress=False)
    assert not (tmp_path / "none" / "checkpoints" / "last" / "grad_filter.safetensors").exists()
    a, b = (
        load_file(tmp_path / run / "checkpoints" / "last" / "model.safetensors") for run in ("none", "zero")
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.grad_filter_lambda=3"], "applies to train.grad_filter=ema|ma, not none"),
        (["train.grad_filter_alpha=0.9"], "applies to train.grad_filter=ema, not none"),
        (
            ["train.grad_filter=ema", "train.grad_filter_window=10"],
            "applies to train.grad_filter=ma, not ema",
        ),
        (["train.grad_filter=ma", "train.grad_filter_alpha=0.5"], "applies to train.grad_filter=ema, not ma"),
        (["train.grad_filter=fast"], "unknown"),
        (["train.grad_filter=ema", "train.grad_filter_alpha=1"], r"in \[0, 1\)"),
        (["train.grad_filter=ma", "train.grad_filter_window=0"], "at least 1|>= 1"),
    ],
)
def test_filter_keys_that_do_not_apply_are_refused_in_one_line(overrides, message):
    with pytest.raises(LmlabError, match=message) as error:
        small(*overrides)
    assert "\n" not in str(error.value)


def test_the_grokking_fast_preset_is_grokfasts_recipe_on_a_standard_setting():
    fast, slow = load_preset("grokking-fast"), load_preset("grokking")
    assert fast.model == slow.model  # Nanda et al.'s one-layer transformer
    assert (fast.data.p, fast.data.r_train) == (97, 0.5)
    train = fast.train
    assert (train.grad_filter, train.grad_filter_alpha, train.grad_filter_lambda) == ("ema", 0.98, 2.0)
    assert (train.batch_size, train.weight_decay) == (512, 0.05)  # Grokfast's 0.005 did not grok seed 1
    assert (train.max_steps, train.lr_decay) == (1200, "wsd")  # the cool-down from step 840 tips it over
