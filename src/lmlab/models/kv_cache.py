"""Key/value cache for incremental decoding: keys and values of past positions, kept per layer.

Buffers are allocated once at full capacity (block_size) and filled in place, so a decoding step
writes one position instead of concatenating the whole history.
"""

from __future__ import annotations

import torch


class LayerCache:
    """One attention layer's keys and values, (B, H, capacity, D) each, filled up to `length`."""

    def __init__(self, batch_size: int, n_head: int, capacity: int, head_size: int, device, dtype) -> None:
        shape = (batch_size, n_head, capacity, head_size)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, T, D) after the cached positions; return all of them (B, H, length, D)."""
        end = self.length + k.size(2)
        if end > self.keys.size(2):
            raise ValueError(f"KV cache overflow: {end} positions > capacity {self.keys.size(2)}")
        self.keys[:, :, self.length : end] = k
        self.values[:, :, self.length : end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat, or reorder) batch rows: row i becomes old row rows[i]."""
        self.keys = self.keys.index_select(0, rows)
        self.values = self.values.index_select(0, rows)


class KVCache:
    """The caches of every layer; `length` is the number of positions already processed."""

    def __init__(self, layers: list[LayerCache]) -> None:
        self.layers = layers

    @property
    def length(self) -> int:
        return self.layers[0].length

    def select(self, rows: torch.Tensor) -> None:
        """Keep, repeat or reorder batch rows (finished rows dropped, beams reordered)."""
        for layer in self.layers:
            layer.select(rows)

    def reset(self) -> None:
        for layer in self.layers:
            layer.length = 0
