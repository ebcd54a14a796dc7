"""A plain GPT training loop written the straightforward way: the baseline lmlab's trainer is timed against.

Same architecture and hyper-parameters as the recipe in bench/speed.py, none of lmlab's speed work:
attention written out (scores, mask, softmax, weighted sum) instead of the fused SDPA kernel, batches
stacked from Python slices every step, `loss.item()` on every step (a host sync), and AdamW's
per-parameter loop (`foreach=False`) instead of the fused kernel.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F


class PlainAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size)).bool())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # (B, H, T, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, H, T, T)
        scores = scores.masked_fill(~self.mask[:T, :T], float("-inf"))
        y = F.softmax(scores, dim=-1) @ v  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class PlainBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd, bias=False), nn.LayerNorm(n_embd, bias=False)
        self.attn = PlainAttention(n_embd, n_head, block_size)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd, bias=False), nn.GELU(), nn.Linear(4 * n_embd, n_embd, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class PlainGPT(nn.Module):
    def __init__(self, vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, n_embd)
        self.positions = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*(PlainBlock(n_embd, n_head, block_size) for _ in range(n_layer)))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        T = idx.size(1)
        x = self.tokens(idx) + self.positions(torch.arange(T, device=idx.device))
        logits = self.head(self.ln_f(self.blocks(x)))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def train_plain(
    data: torch.Tensor,
    iters: int,
    vocab_size: int,
    n_layer: int = 4,
    n_head: int = 4,
    n_embd: int = 128,
    block_size: int = 64,
    batch_size: int = 12,
    lr: float = 1e-3,
    min_lr: float = 1e-4,
    warmup: int = 100,
    decay_iters: int = 2000,
    seed: int = 1337,
    device: str = "cpu",
) -> dict[str, float]:
    """Train for `iters` iterations; returns ms per iteration and the last training loss."""
    torch.manual_seed(seed)
    model = PlainGPT(vocab_size, n_layer, n_head, n_embd, block_size).to(device)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.99),
        foreach=False,
        fused=False,
    )
    loss_value = float("nan")
    start = time.perf_counter()
    for step in range(iters):
        if step < warmup:
            rate = lr * (step + 1) / warmup
        else:
            progress = min(1.0, (step - warmup) / (decay_iters - warmup))
            rate = min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)
        for group in optimizer.param_groups:
            group["lr"] = rate
        starts = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([data[i : i + block_size] for i in starts]).to(device)
        y = torch.stack([data[i + 1 : i + 1 + block_size] for i in starts]).to(device)
        loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = loss.item()  # a host sync on every step, as most hand-written loops do
    seconds = time.perf_counter() - start
    return {"ms_per_iter": 1000 * seconds / iters, "train_loss": loss_value}
