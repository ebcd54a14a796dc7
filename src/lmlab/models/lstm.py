"""LSTM language model, with lmlab's own cell (Hochreiter & Schmidhuber 1997; assignment 002's equations).

For input x_t (d_x) and previous state h_{t-1}, c_{t-1} (d_h), one linear map of [x_t; h_{t-1}]
gives four pre-activations, in this order (torch.nn.LSTM's, so weights copy across):

    i = sigmoid(W_i [x; h] + b_i)    input gate
    f = sigmoid(W_f [x; h] + b_f)    forget gate
    g = tanh(W_g [x; h] + b_g)       candidate cell
    o = sigmoid(W_o [x; h] + b_o)    output gate
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Parameters per layer: 4 (d_x + d_h) d_h, plus 4 d_h with bias. Layers stack with dropout between
them (not after the last); an embedding sits in front and a linear classifier behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmlab.config import ModelConfig
from lmlab.models.base import Inspection, LanguageModel


class LSTMLayer(nn.Module):
    """One LSTM layer over a whole sequence."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.gates = nn.Linear(input_size + hidden_size, 4 * hidden_size, bias=bias)  # assignment 002's [W U]

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, d_x), h and c (B, d_h) -> outputs (B, T, d_h), last h, last c."""
        w_input = self.gates.weight[:, : self.input_size]
        w_hidden = self.gates.weight[:, self.input_size :]
        # [W U][x; h] = W x + U h: the input half for all steps in one matrix product, then the recurrence
        from_input = torch.nn.functional.linear(x, w_input, self.gates.bias)  # (B, T, 4 d_h)
        outputs = []
        for t in range(x.size(1)):
            pre = from_input[:, t] + h @ w_hidden.T  # (B, 4 d_h)
            i, f, g, o = pre.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c


@dataclass
class LSTMState:
    """Hidden and cell states of every layer, each (n_layer, B, d_h), as torch.nn.LSTM's (h_n, c_n)."""

    h: torch.Tensor
    c: torch.Tensor

    def select(self, rows: torch.Tensor) -> None:
        """Keep, repeat or reorder batch rows, as KVCache.select."""
        self.h, self.c = self.h.index_select(1, rows), self.c.index_select(1, rows)


class LSTM(LanguageModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        hidden = config.lstm_hidden
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.layers = nn.ModuleList(
            LSTMLayer(config.n_embd if i == 0 else hidden, hidden, bias=config.bias)
            for i in range(config.n_layer)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(hidden, config.vocab_size, bias=config.lm_head_has_bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Embedding N(0, 1), as nn.Embedding; gates and classifier U(+-1/sqrt(d_h)), as torch's LSTM."""
        bound = self.config.lstm_hidden**-0.5
        nn.init.normal_(self.token_embedding.weight)
        for param in [*self.layers.parameters(), *self.lm_head.parameters()]:
            nn.init.uniform_(param, -bound, bound)

    @property
    def context_size(self) -> None:
        return None  # the state carries everything read so far

    def new_cache(self, batch_size: int) -> LSTMState:
        return self.initial_state(batch_size, self.lm_head.weight.device, self.lm_head.weight.dtype)

    def initial_state(self, batch_size: int, device, dtype) -> LSTMState:
        shape = (self.config.n_layer, batch_size, self.config.lstm_hidden)
        return LSTMState(
            torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
        )

    def run(self, idx: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """idx (B, T) -> (logits (B, T, V), state after the last token). A missing state starts at zero."""
        logits, state, _ = self._layers(idx, state)
        return logits, state

    def inspect(self, idx: torch.Tensor, segments: torch.Tensor | None = None) -> Inspection:
        """Logits and every layer's outputs h_t, (B, n_layer, T, d_h); an LSTM has no attention."""
        logits, _, outputs = self._layers(idx, None)
        return Inspection(logits, torch.stack(outputs, dim=1), None)

    def _layers(
        self, idx: torch.Tensor, state: LSTMState | None
    ) -> tuple[torch.Tensor, LSTMState, list[torch.Tensor]]:
        x = self.token_embedding(idx)  # (B, T, d_e)
        if state is None:
            state = self.initial_state(idx.size(0), x.device, x.dtype)
        last_h, last_c, outputs = [], [], []
        for i, layer in enumerate(self.layers):
            x, h, c = layer(x, state.h[i], state.c[i])  # x: (B, T, d_h)
            outputs.append(x)
            if i < len(self.layers) - 1:
                x = self.dropout(x)  # between layers, not after the last
            last_h.append(h)
            last_c.append(c)
        return self.lm_head(x), LSTMState(torch.stack(last_h), torch.stack(last_c)), outputs

    def forward(self, idx: torch.Tensor, *, cache: LSTMState | None = None, segments=None) -> torch.Tensor:
        """idx (B, T) -> logits (B, T, V). With a cache, decoding continues from its state, which is
        updated in place."""
        logits, state = self.run(idx, cache)
        if cache is not None:
            cache.h, cache.c = state.h, state.c
        return logits
