"""Numpy recurrent layers (RNN, LSTM, GRU) with backpropagation through time by hand.

The parameters are laid out like a single-layer ``torch.nn.RNN`` / ``LSTM`` /
``GRU``, so weights copy both ways (`from_torch`, `to_torch`):
``weight_ih`` ``[G*H, I]``, ``weight_hh`` ``[G*H, H]``, ``bias_ih`` and
``bias_hh`` ``[G*H]``, the ``G`` gate blocks stacked in PyTorch's order
(LSTM: i, f, g, o; GRU: r, z, n). Sequences are sequence-first: ``x`` is
``[T, B, I]`` and the outputs (the hidden state at every step) ``[T, B, H]``.

Every cell starts each step from the same two affine maps::

    gi = x_t W_ih^T + b_ih          gh = h_{t-1} W_hh^T + b_hh

and differs only in how it mixes ``gi``, ``gh`` and the previous state. So a
cell writes ``_step`` (one step forward) and ``_step_backward`` (its local
derivatives), and `RecurrentLayer` runs the steps and, going backward through
time, accumulates what the affine maps share::

    dW_ih += dgi^T x_t     db_ih += sum(dgi)     dx_t = dgi W_ih
    dW_hh += dgh^T h_{t-1} db_hh += sum(dgh)     dh_{t-1} += dgh W_hh
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from models.numpy_ref.layers import Grads, sigmoid

State = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]
States = tuple[np.ndarray, ...]
StepOut = tuple[States, Any]  # the new state and what the backward step needs
StepGrads = tuple[np.ndarray, np.ndarray, tuple]  # dgi, dgh, d old state (without the path through gh)
# Derivatives of the RNN activations, written through their outputs y.
_ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1.0 - y**2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda y: (y > 0).astype(y.dtype)),
    "sigmoid": (sigmoid, lambda y: y * (1.0 - y)),
}


class RecurrentLayer:
    """One recurrent layer over a batch of sequences, with BPTT.

    Subclasses set ``gates`` (blocks stacked in the weights) and ``num_states``
    (1 for ``h``, 2 for LSTM's ``(h, c)``) and implement `_step` and `_step_backward`.
    Parameters are initialised like PyTorch's: uniform in ``±1/sqrt(H)``.
    """

    gates = 1
    num_states = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        rng = np.random.default_rng() if rng is None else rng
        self.input_size, self.hidden_size = input_size, hidden_size
        rows, bound = self.gates * hidden_size, 1.0 / np.sqrt(hidden_size)
        shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size), "bias_ih": (rows,), "bias_hh": (rows,)}
        self.params = {name: rng.uniform(-bound, bound, shape).astype(dtype) for name, shape in shapes.items()}

    # -- one step: what a subclass writes -------------------------------------------
    def _step(self, gi: np.ndarray, gh: np.ndarray, state: States) -> StepOut:
        """The new state (``h`` first) from the two affine maps and the old state, and a cache for `_step_backward`."""
        raise NotImplementedError

    def _step_backward(self, grad_state: States, cache: Any) -> StepGrads:
        """From dLoss/d(new state): ``(dgi, dgh, d old state)``, the last without the path through ``gh``."""
        raise NotImplementedError

    # -- the sequence -----------------------------------------------------------------
    def forward(self, x: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """Run over ``x`` ``[T, B, I]`` from ``state`` (zeros if None): ``(outputs [T, B, H], final state)``.

        The state is ``h`` ``[B, H]``, or ``(h, c)`` for the LSTM, as in PyTorch
        without the leading layer axis.
        """
        steps, batch, _ = x.shape
        p = self.params
        current = self._as_tuple(state, batch, x.dtype)
        gi_all = x @ p["weight_ih"].T + p["bias_ih"]  # every step's input map at once
        outputs = np.empty((steps, batch, self.hidden_size), dtype=x.dtype)
        caches = []
        for t in range(steps):
            gh = current[0] @ p["weight_hh"].T + p["bias_hh"]
            new, cache = self._step(gi_all[t], gh, current)
            caches.append((current[0], cache))
            current = new
            outputs[t] = current[0]
        self._x, self._caches = x, caches
        return outputs, self._from_tuple(current)

    def backward(self, grad_outputs: np.ndarray | None = None, grad_state: State | None = None) -> tuple[np.ndarray, State, Grads]:
        """Backpropagation through time for the last `forward`.

        ``grad_outputs`` is dLoss/d(outputs) ``[T, B, H]`` and ``grad_state``
        dLoss/d(final state) (either may be None for zeros). Returns
        ``(dLoss/dx [T, B, I], dLoss/d(initial state), {name: dLoss/dParameter})``.
        """
        x, caches = self._x, self._caches
        p = self.params
        grads = {name: np.zeros_like(value) for name, value in p.items()}
        grad_gi = np.empty(x.shape[:2] + (p["weight_ih"].shape[0],), dtype=x.dtype)
        carried = self._as_tuple(grad_state, x.shape[1], x.dtype)
        for t in reversed(range(x.shape[0])):
            h_prev, cache = caches[t]
            if grad_outputs is not None:
                carried = (carried[0] + grad_outputs[t],) + carried[1:]
            dgi, dgh, d_prev = self._step_backward(carried, cache)
            grad_gi[t] = dgi
            grads["weight_hh"] += dgh.T @ h_prev
            grads["bias_hh"] += dgh.sum(axis=0)
            carried = (d_prev[0] + dgh @ p["weight_hh"],) + tuple(d_prev[1:])
        flat_gi = grad_gi.reshape(-1, grad_gi.shape[-1])
        grads["weight_ih"] = flat_gi.T @ x.reshape(-1, x.shape[-1])
        grads["bias_ih"] = flat_gi.sum(axis=0)
        return grad_gi @ p["weight_ih"], self._from_tuple(carried), grads

    def _as_tuple(self, state: State | None, batch: int, dtype: np.dtype) -> States:
        if state is None:
            return tuple(np.zeros((batch, self.hidden_size), dtype=dtype) for _ in range(self.num_states))
        return tuple(state) if self.num_states > 1 else (state,)

    def _from_tuple(self, state: States) -> State:
        return state if self.num_states > 1 else state[0]


class RNN(RecurrentLayer):
    """Elman RNN: ``h_t = act(gi + gh)`` with ``act`` tanh (as PyTorch's default), relu or sigmoid."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; choose one of {', '.join(_ACTIVATIONS)}")
        super().__init__(input_size, hidden_size, rng, dtype)
        self.nonlinearity = nonlinearity
        self._act, self._act_grad = _ACTIVATIONS[nonlinearity]

    def _step(self, gi: np.ndarray, gh: np.ndarray, state: States) -> StepOut:
        h = self._act(gi + gh)
        return (h,), h

    def _step_backward(self, grad_state: States, h: np.ndarray) -> StepGrads:
        (dh,) = grad_state
        da = dh * self._act_grad(h)
        return da, da, (0.0,)


class LSTM(RecurrentLayer):
    """LSTM: gates ``i, f, o`` (sigmoid) and candidate ``g`` (tanh) from ``gi + gh``;
    ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)``."""

    gates = 4
    num_states = 2

    def _step(self, gi: np.ndarray, gh: np.ndarray, state: States) -> StepOut:
        _, c_prev = state
        i, f, g, o = np.split(gi + gh, 4, axis=1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        return (o * tanh_c, c), (i, f, g, o, c_prev, tanh_c)

    def _step_backward(self, grad_state: States, cache: Any) -> StepGrads:
        dh, dc = grad_state
        i, f, g, o, c_prev, tanh_c = cache
        do = dh * tanh_c                          # h = o * tanh(c)
        dc = dc + dh * o * (1.0 - tanh_c**2)      # c reaches the loss directly and through h
        di, df, dg = dc * g, dc * c_prev, dc * i  # c = f * c_prev + i * g
        d_gates = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
        return d_gates, d_gates, (0.0, dc * f)


class GRU(RecurrentLayer):
    """GRU as in PyTorch: ``r, z = sigmoid(gi + gh)``, ``n = tanh(gi_n + r * gh_n)``,
    ``h_t = (1 - z) * n + z * h_{t-1}``."""

    gates = 3

    def _step(self, gi: np.ndarray, gh: np.ndarray, state: States) -> StepOut:
        (h_prev,) = state
        i_r, i_z, i_n = np.split(gi, 3, axis=1)
        h_r, h_z, h_n = np.split(gh, 3, axis=1)
        r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        return ((1.0 - z) * n + z * h_prev,), (r, z, n, h_n, h_prev)

    def _step_backward(self, grad_state: States, cache: Any) -> StepGrads:
        (dh,) = grad_state
        r, z, n, h_n, h_prev = cache
        da_n = dh * (1.0 - z) * (1.0 - n**2)     # through n's tanh
        da_z = dh * (h_prev - n) * z * (1.0 - z)
        da_r = da_n * h_n * r * (1.0 - r)        # r multiplies gh_n inside n
        dgi = np.concatenate([da_r, da_z, da_n], axis=1)
        dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)
        return dgi, dgh, (dh * z,)


CELLS: dict[str, type[RecurrentLayer]] = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


def from_torch(module: Any) -> RecurrentLayer:
    """A numpy copy of a single-layer, unidirectional ``torch.nn.RNN``/``LSTM``/``GRU`` with biases."""
    import torch.nn as nn

    kind = next((ours for theirs, ours in ((nn.RNN, RNN), (nn.LSTM, LSTM), (nn.GRU, GRU)) if isinstance(module, theirs)), None)
    if kind is None:
        raise ValueError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
        raise ValueError("only a single-layer, unidirectional module with biases and no projection can be copied")
    kwargs = {"nonlinearity": module.nonlinearity} if kind is RNN else {}
    cell = kind(module.input_size, module.hidden_size, **kwargs)
    cell.params = {name: getattr(module, f"{name}_l0").detach().cpu().numpy().copy() for name in cell.params}
    return cell


def to_torch(cell: RecurrentLayer) -> Any:
    """A single-layer ``torch.nn.RNN``/``LSTM``/``GRU`` (sequence-first) holding a copy of ``cell``'s weights."""
    import torch
    import torch.nn as nn

    kwargs = {}
    if isinstance(cell, RNN):
        if cell.nonlinearity == "sigmoid":
            raise ValueError("torch.nn.RNN has no sigmoid nonlinearity; only tanh and relu cells can be copied")
        kwargs["nonlinearity"] = cell.nonlinearity
    dtype = torch.from_numpy(cell.params["weight_ih"][:0]).dtype
    torch_class = nn.LSTM if isinstance(cell, LSTM) else nn.GRU if isinstance(cell, GRU) else nn.RNN
    module = torch_class(cell.input_size, cell.hidden_size, dtype=dtype, **kwargs)
    with torch.no_grad():
        for name, value in cell.params.items():
            getattr(module, f"{name}_l0").copy_(torch.from_numpy(value))
    return module
