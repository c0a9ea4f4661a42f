"""GRU and LSTM layers written from scratch: the gates are computed from explicit weight matrices.

`ScratchGRU` and `ScratchLSTM` stand in for ``nn.GRU`` / ``nn.LSTM`` with
``batch_first=True``, without using them. Their parameters carry PyTorch's
names, shapes, gate order and initialisation (uniform in ``±1/sqrt(hidden)``):
``weight_ih_l{k}`` stacks the input weights of layer ``k``'s gates row-wise,
``weight_hh_l{k}`` the hidden weights, ``bias_ih_l{k}`` and ``bias_hh_l{k}``
the two biases. Gate order: GRU reset | update | new, LSTM input | forget |
cell | output. So a ``state_dict`` moves between a scratch layer and its
PyTorch twin, which is how the tests compare them. Autograd does the backward
pass. The input projection of a layer is one matrix product over all steps;
only the recurrence loops over time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gru_step(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """One GRU step from the input projection ``x_proj = x W_ih^T + b_ih`` ``[B, 3H]`` and the state ``h [B, H]``::

        r  = sigmoid(x_r + h W_hr^T + b_hr)            reset gate
        z  = sigmoid(x_z + h W_hz^T + b_hz)            update gate
        n  = tanh(x_n + r * (h W_hn^T + b_hn))         candidate state
        h' = (1 - z) * n + z * h
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step from the input projection ``x_proj [B, 4H]``, the hidden state ``h`` and the cell ``c``::

        i, f, o = sigmoid(x_i + h W_hi^T + b_hi), sigmoid(...f...), sigmoid(...o...)
        g  = tanh(x_g + h W_hg^T + b_hg)
        c' = f * c + i * g
        h' = o * tanh(c')
    """
    x_i, x_f, x_g, x_o = x_proj.chunk(4, dim=1)
    h_i, h_f, h_g, h_o = F.linear(h, w_hh, b_hh).chunk(4, dim=1)
    i = torch.sigmoid(x_i + h_i)
    f = torch.sigmoid(x_f + h_f)
    g = torch.tanh(x_g + h_g)
    o = torch.sigmoid(x_o + h_o)
    c = f * c + i * g
    return o * torch.tanh(c), c


class _ScratchRecurrent(nn.Module):
    """Parameters of a stack of gated layers, registered under PyTorch's names."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1 or hidden_size < 1 or input_size < 1:
            raise ValueError("input_size, hidden_size and num_layers must be >= 1")
        self.input_size, self.hidden_size, self.num_layers, self.dropout = input_size, hidden_size, num_layers, dropout
        rows = self.gates * hidden_size
        for k in range(num_layers):
            columns = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, columns)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(rows, hidden_size)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(rows)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``[-1/sqrt(hidden), 1/sqrt(hidden)]``, as PyTorch initialises its RNNs."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def layer(self, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of layer ``k``."""
        return tuple(getattr(self, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))  # type: ignore[return-value]

    def _between_layers(self, outputs: Tensor, k: int) -> Tensor:
        """Dropout on a layer's outputs before the next layer (not after the last), as PyTorch does."""
        if self.dropout and k < self.num_layers - 1:
            return F.dropout(outputs, self.dropout, self.training)
        return outputs


class ScratchGRU(_ScratchRecurrent):
    """A multi-layer GRU over ``[B, T, input_size]``, batch first; states ``[num_layers, B, H]``."""

    gates = 3

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(outputs of the last layer ``[B, T, H]``, final state of every layer ``[L, B, H]``)."""
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
        outputs, finals = x, []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer(k)
            x_proj = F.linear(outputs, w_ih, b_ih)
            h, steps = h0[k], []
            for t in range(x.size(1)):
                h = gru_step(x_proj[:, t], h, w_hh, b_hh)
                steps.append(h)
            outputs = self._between_layers(torch.stack(steps, dim=1), k)
            finals.append(h)
        return outputs, torch.stack(finals)


class ScratchLSTM(_ScratchRecurrent):
    """A multi-layer LSTM over ``[B, T, input_size]``, batch first; states ``(h, c)``, each ``[num_layers, B, H]``."""

    gates = 4

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """(outputs of the last layer ``[B, T, H]``, ``(h_n, c_n)`` of every layer)."""
        if state is None:
            zeros = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
            state = (zeros, zeros)
        outputs, final_h, final_c = x, [], []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer(k)
            x_proj = F.linear(outputs, w_ih, b_ih)
            h, c, steps = state[0][k], state[1][k], []
            for t in range(x.size(1)):
                h, c = lstm_step(x_proj[:, t], h, c, w_hh, b_hh)
                steps.append(h)
            outputs = self._between_layers(torch.stack(steps, dim=1), k)
            final_h.append(h)
            final_c.append(c)
        return outputs, (torch.stack(final_h), torch.stack(final_c))
