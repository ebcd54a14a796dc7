"""AdamW with weight decay on weight matrices only; or (train.optimizer=muon) Muon for hidden matrices."""

from __future__ import annotations

import torch
from torch import nn

from lmlab.config import TrainConfig
from lmlab.errors import LmlabError
from lmlab.training.muon import MuonAdamW


def decay_groups(
    model: nn.Module, decay_embeddings: bool, decay_all: bool = False
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed): Linear weights decay; biases, norms and embeddings do not, unless asked
    (`decay_all`: every parameter, as AdamW(model.parameters()) in the arithmetic assignment).

    A weight tied to an embedding counts as the embedding.
    """
    if decay_all:
        return list(model.parameters()), []
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    linear_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    decayed, kept = [], []
    for param in model.parameters():  # each tied parameter once
        is_matrix = id(param) in linear_ids and id(param) not in embedding_ids
        (decayed if is_matrix or (decay_embeddings and id(param) in embedding_ids) else kept).append(param)
    return decayed, kept


def muon_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The hidden weight matrices Muon updates: every nn.Linear weight but the output head's and one tied
    to an embedding (GPT: attention qkv and out_proj, MLP fc and out_proj; LSTM: each layer's gates).
    An empty matrix (e.g. model.mlp_ratio so small the MLP has no units) has nothing to orthogonalise
    and would divide by its zero dimension; AdamW keeps it."""
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    matrices: dict[int, nn.Parameter] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] != "lm_head":
            if id(module.weight) not in embedding_ids and module.weight.numel() > 0:
                matrices[id(module.weight)] = module.weight
    return list(matrices.values())


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decayed, kept = decay_groups(model, config.decay_embeddings, config.decay_all)
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]
    # the fused kernel does the whole update in one pass; it exists for CPU and CUDA tensors
    fused = device.type in ("cuda", "cpu")
    if config.optimizer == "muon":
        return _muon_adamw(model, config, groups, fused)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)


def set_lr(optimizer: torch.optim.Optimizer, lr: float, config: TrainConfig) -> None:
    """Scale every group's peak lr by the schedule: peak x (lr / train.lr); AdamW's peak is train.lr
    (a factor of exactly 1.0, so AdamW runs get `lr` bit for bit), Muon's train.muon_lr."""
    for group in optimizer.param_groups:
        peak = config.muon_lr if group.get("rule") == "muon" else config.lr
        group["lr"] = lr * (peak / config.lr)


def _muon_adamw(
    model: nn.Module, config: TrainConfig, groups: list[dict], fused: bool
) -> torch.optim.Optimizer:
    matrices = muon_matrices(model)
    if not matrices:
        raise LmlabError(
            f"train.optimizer=muon needs hidden weight matrices, and a {type(model).__name__} has none "
            "(only embeddings and the output head); use train.optimizer=adamw or model.kind=gpt"
        )
    muon_ids = {id(p) for p in matrices}
    for group in groups:
        group["params"] = [p for p in group["params"] if id(p) not in muon_ids]
        group.update(rule="adamw", lr=config.lr)
    muon = {
        "params": matrices,
        "rule": "muon",
        "lr": config.muon_lr,
        "momentum": config.muon_momentum,
        "weight_decay": config.muon_weight_decay,
    }
    return MuonAdamW([*groups, muon], lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)
