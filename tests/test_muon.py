"""train.optimizer=muon: Muon for the hidden weight matrices, AdamW for the rest (lmlab.training.muon)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from lmlab.errors import LmlabError
from lmlab.models import build_model
from lmlab.runs.run_dir import RunDir
from lmlab.runs.trainer import train
from lmlab.training import muon as muon_module
from lmlab.training.muon import NS_COEFFICIENTS, MuonAdamW, orthogonalize, update_scale
from lmlab.training.optim import make_optimizer, muon_matrices, set_lr
from lmlab.training.schedule import lr_at

from .conftest import tiny_config, with_vocab

CPU = torch.device("cpu")
HIDDEN = ("attn.qkv.weight", "attn.out_proj.weight", "mlp.fc.weight", "mlp.out_proj.weight")


def _weights(path):
    return load_file(path / "checkpoints" / "last" / "model.safetensors")


def _groups_by_name(model, optimizer):
    names = {id(p): n for n, p in model.named_parameters()}
    return [(g["rule"], sorted(names[id(p)] for p in g["params"])) for g in optimizer.param_groups]


@pytest.mark.parametrize("tied", [True, False])
def test_muon_takes_the_block_matrices_and_adamw_everything_else(tied):
    config = with_vocab(tiny_config("train.optimizer=muon", f"model.tie_weights={str(tied).lower()}"))
    model = build_model(config.model)
    optimizer = make_optimizer(model, config.train, CPU)
    groups = _groups_by_name(model, optimizer)
    assert [rule for rule, _ in groups] == ["adamw", "adamw", "muon"]
    muon = groups[2][1]
    assert muon == sorted(f"blocks.{i}.{name}" for i in range(2) for name in HIDDEN)
    adamw = groups[0][1] + groups[1][1]
    assert "token_embedding.weight" in adamw and not any("lm_head" in n for n in muon)
    assert ("lm_head.weight" in groups[0][1]) == (not tied)  # an untied head decays, in AdamW
    assert any("norm" in n for n in groups[1][1])
    assert len(muon) + len(adamw) == len(list(model.parameters()))
    assert optimizer.param_groups[2]["lr"] == config.train.muon_lr
    assert optimizer.param_groups[0]["lr"] == config.train.lr


def test_an_empty_matrix_stays_with_adamw_and_the_step_runs():
    """model.mlp_ratio so small the MLP has no units: its two empty matrices are not Muon's (torch's
    update scale divides by a zero dimension), and a step still runs."""
    config = with_vocab(tiny_config("train.optimizer=muon", "model.mlp_ratio=1e-3"))
    model = build_model(config.model)
    muon = {id(p) for p in muon_matrices(model)}
    empty = [p for p in model.parameters() if p.numel() == 0]
    assert empty and not any(id(p) in muon for p in empty)
    assert len(muon) == 2 * 2  # each block's qkv and attention out_proj
    optimizer = make_optimizer(model, config.train, CPU)
    model(torch.zeros(2, 4, dtype=torch.long)).sum().backward()
    optimizer.step()


def test_adamw_stays_torch_adamw():
    config = with_vocab(tiny_config())
    optimizer = make_optimizer(build_model(config.model), config.train, CPU)
    assert type(optimizer) is torch.optim.AdamW


def test_the_schedule_scales_both_peaks_and_leaves_adamw_exact():
    config = with_vocab(
        tiny_config("train.optimizer=muon", "train.muon_lr=0.05", "train.max_steps=100", "train.lr=3e-3")
    )
    optimizer = make_optimizer(build_model(config.model), config.train, CPU)
    for step in (0, 1, 50, 99):
        lr = lr_at(step, config.train)
        set_lr(optimizer, lr, config.train)
        adamw, _, muon = (g["lr"] for g in optimizer.param_groups)
        assert adamw == lr  # bit for bit
        assert muon == pytest.approx(0.05 * lr / 3e-3, rel=1e-12)
    adamw_only = with_vocab(tiny_config("train.lr=3e-3")).train
    plain = make_optimizer(build_model(config.model), adamw_only, CPU)
    for step in range(0, 8):
        set_lr(plain, lr_at(step, adamw_only), adamw_only)
        assert all(g["lr"] == lr_at(step, adamw_only) for g in plain.param_groups)


def _reference_newton_schulz(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """X <- a X + b (X X^T) X + c (X X^T)^2 X on the wide orientation, in float64."""
    a, b, c = NS_COEFFICIENTS
    x = g.double()
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / x.norm()
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + b * gram @ x + c * gram @ gram @ x
    return x.T if tall else x


@pytest.mark.parametrize("shape", [(32, 32), (96, 32), (32, 128)])
def test_float32_newton_schulz_matches_a_plain_reference(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    got = orthogonalize(g, torch.float32)
    assert got.dtype == torch.float32 and got.shape == g.shape
    torch.testing.assert_close(got.double(), _reference_newton_schulz(g), atol=1e-4, rtol=1e-4)
    singular = torch.linalg.svdvals(got)
    assert singular.min() > 0.5 and singular.max() < 1.5  # near orthogonal (S' in about [0.7, 1.2])


def test_update_scale_is_torchs_original():
    assert update_scale((96, 32)) == pytest.approx(3**0.5)
    assert update_scale((32, 128)) == 1.0 and update_scale((64, 64)) == 1.0


def test_a_bfloat16_muon_step_equals_torch_optim_muon(monkeypatch):
    monkeypatch.setattr(muon_module, "ns_dtype", lambda device: torch.bfloat16)
    torch.manual_seed(0)
    mine, theirs = torch.nn.Parameter(torch.randn(48, 16)), torch.nn.Parameter(torch.randn(48, 16))
    theirs.data.copy_(mine.data)
    other = torch.nn.Parameter(torch.randn(16))  # AdamW's share
    optimizer = MuonAdamW(
        [
            {"params": [other], "rule": "adamw", "lr": 1e-3, "weight_decay": 0.0},
            {"params": [mine], "rule": "muon", "lr": 0.02, "momentum": 0.95, "weight_decay": 0.1},
        ],
        lr=1e-3,
        betas=(0.9, 0.99),
        fused=False,
    )
    reference = torch.optim.Muon([theirs], lr=0.02, momentum=0.95, weight_decay=0.1, adjust_lr_fn="original")
    for _ in range(3):
        grad = torch.randn(48, 16)
        mine.grad, theirs.grad, other.grad = grad.clone(), grad.clone(), torch.randn(16)
        optimizer.step()
        reference.step()
    torch.testing.assert_close(mine.data, theirs.data, atol=1e-6, rtol=0)


def test_a_muon_run_learns_and_repeats_bit_for_bit(tmp_path):
    config = tiny_config(
        "train.optimizer=muon", "model.dropout=0.1", "train.max_steps=16", "train.eval_interval=8"
    )
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [r["val_loss"] for r in RunDir(tmp_path / "a").metrics()]
    assert losses[-1] < losses[0] - 0.3


@pytest.mark.parametrize("stop_after", [3, 4])  # between evaluations, and on one
def test_a_resumed_muon_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, stop_after):
    config = tiny_config("train.optimizer=muon", "model.dropout=0.1", "train.grad_accum_steps=2")
    train(config, tmp_path / "straight", progress=False)
    first = train(config, tmp_path / "resumed", stop_after_step=stop_after, progress=False)
    assert first.step == stop_after
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    straight, resumed = RunDir(tmp_path / "straight").metrics(), RunDir(tmp_path / "resumed").metrics()
    assert [r["val_loss"] for r in straight] == [r["val_loss"] for r in resumed]


def test_muon_trains_in_float16_with_a_loss_scale(tmp_path):
    result = train(
        tiny_config("train.optimizer=muon", "train.dtype=float16"), tmp_path / "run", progress=False
    )
    assert result.step == 8
    assert all(torch.isfinite(t).all() for t in _weights(tmp_path / "run").values())


def test_an_lstm_gets_muon_on_its_gates():
    config = with_vocab(tiny_config("model.kind=lstm", "train.optimizer=muon"))
    model = build_model(config.model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in muon_matrices(model)) == [
        "layers.0.gates.weight",
        "layers.1.gates.weight",
    ]


@pytest.mark.parametrize("kind", ["bigram", "bigram_embed"])
def test_muon_for_a_model_without_hidden_matrices_is_refused(kind):
    config = with_vocab(tiny_config(f"model.kind={kind}", "train.optimizer=muon"))
    with pytest.raises(LmlabError, match="train.optimizer=adamw"):
        make_optimizer(build_model(config.model), config.train, CPU)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["train.muon_lr=0.05"], "applies to train.optimizer=muon"),
        (["train.muon_momentum=0.9"], "applies to train.optimizer=muon"),
        (["train.muon_weight_decay=0.1"], "applies to train.optimizer=muon"),
        (["train.optimizer=sgd"], "unknown; choose one of"),
        (["train.optimizer=muon", "train.muon_lr=0"], "must be positive"),
        (["train.optimizer=muon", "train.muon_momentum=1"], r"must be in \[0, 1\)"),
    ],
)
def test_bad_optimizer_keys_are_refused(overrides, match):
    with pytest.raises(LmlabError, match=match):
        tiny_config(*overrides)


def test_a_resume_that_switches_the_optimizer_is_refused_in_one_line(tmp_path):
    train(tiny_config("train.max_steps=4", "train.eval_interval=2"), tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(LmlabError, match="cannot change train.optimizer"):
        train(tiny_config("train.optimizer=muon"), tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before  # the run is left as it was
