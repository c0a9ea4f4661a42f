"""A character-level vanilla RNN in numpy: forward pass and backpropagation through time.

The model of Karpathy's min-char-rnn, vectorised over a batch of lanes
(``B`` streams read side by side; ``B = 1`` is the classic)::

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)     x_t is one-hot, so Wxh x_t is a column of Wxh
    y_t = Why h_t + by                          logits; p_t = softmax(y_t)
    loss = -sum_t log p_t[target_t]             summed over the unrolled steps (and the lanes)

Shapes: ``Wxh [H, V]``, ``Whh [H, H]``, ``Why [V, H]``, ``bh [H]``, ``by [V]``.
The input projection, the output layer, the softmax and the weight gradients
are computed for all steps at once; only the recurrence itself loops over time.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from models.numpy_ref.layers import log_softmax

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")
Arrays = dict[str, np.ndarray]


class NumpyCharRNN:
    """A tanh RNN over one-hot characters with a softmax output."""

    def __init__(self, vocab_size: int, hidden_size: int, seed: int = 0, init_scale: float = 0.01, dtype: type = np.float64) -> None:
        rng = np.random.default_rng(seed)
        shapes = self.shapes(vocab_size, hidden_size)
        self.params: Arrays = {
            name: (rng.standard_normal(shape) * init_scale if name.startswith("W") else np.zeros(shape)).astype(dtype)
            for name, shape in shapes.items()
        }

    @staticmethod
    def shapes(vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter."""
        V, H = vocab_size, hidden_size
        return {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H,), "by": (V,)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "NumpyCharRNN":
        """A model holding copies of ``arrays``; ``ValueError`` if a parameter is missing or misshapen."""
        missing = [name for name in PARAM_NAMES if name not in arrays]
        if missing:
            raise ValueError(f"missing parameters: {', '.join(missing)}")
        hidden_size, vocab_size = arrays["Wxh"].shape
        for name, shape in cls.shapes(vocab_size, hidden_size).items():
            if arrays[name].shape != shape:
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
        model = cls.__new__(cls)
        model.params = {name: np.array(arrays[name]) for name in PARAM_NAMES}
        return model

    @property
    def vocab_size(self) -> int:
        return self.params["Why"].shape[0]

    @property
    def hidden_size(self) -> int:
        return self.params["Whh"].shape[0]

    def init_state(self, rows: int) -> np.ndarray:
        """A zero hidden state for ``rows`` lanes, ``[B, H]``."""
        return np.zeros((rows, self.hidden_size), dtype=self.params["Whh"].dtype)

    def hidden_states(self, inputs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        """Every step's hidden state ``[B, T, H]`` for input ids ``[B, T]`` starting from ``h0 [B, H]``."""
        p = self.params
        projected = p["Wxh"].T[inputs] + p["bh"]  # one-hot times Wxh: a gather, for all steps at once
        whh_t = p["Whh"].T
        hs = np.empty(projected.shape, dtype=projected.dtype)
        h = h0
        for t in range(inputs.shape[1]):
            h = np.tanh(projected[:, t] + h @ whh_t)
            hs[:, t] = h
        return hs

    def forward(self, inputs: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits ``[B, T, V]``, the last hidden state ``[B, H]``)."""
        hs = self.hidden_states(inputs, h0)
        return hs @ self.params["Why"].T + self.params["by"], hs[:, -1].copy()

    def loss(self, inputs: np.ndarray, targets: np.ndarray, h0: np.ndarray) -> tuple[float, np.ndarray]:
        """(cross-entropy in nats summed over all steps and lanes, the last hidden state)."""
        logits, h_last = self.forward(inputs, h0)
        return float(-np.take_along_axis(log_softmax(logits), targets[..., None], axis=-1).sum()), h_last

    def loss_and_grads(self, inputs: np.ndarray, targets: np.ndarray, h0: np.ndarray) -> tuple[float, Arrays, np.ndarray]:
        """(summed loss, its gradient for every parameter, the last hidden state), by backpropagation through time."""
        p = self.params
        B, T = inputs.shape
        H, V = self.hidden_size, self.vocab_size
        hs = self.hidden_states(inputs, h0)
        logits = hs @ p["Why"].T + p["by"]
        shifted = logits - logits.max(axis=2, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=2, keepdims=True)
        target_logit = np.take_along_axis(shifted, targets[..., None], axis=2)
        loss = float((np.log(sums) - target_logit).sum())

        dlogits = exp / sums  # softmax; minus one at the target gives d loss / d logits
        np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], axis=2) - 1.0, axis=2)
        dlogits_2d = dlogits.reshape(B * T, V)
        grads: Arrays = {"Why": dlogits_2d.T @ hs.reshape(B * T, H), "by": dlogits_2d.sum(axis=0)}

        dh_out = dlogits @ p["Why"]  # [B, T, H]: what each step's output sends back to its hidden state
        draw = np.empty_like(hs)  # gradient at the tanh's input, per step
        dh_next = np.zeros_like(h0)
        whh = p["Whh"]
        for t in reversed(range(T)):
            dh = dh_out[:, t] + dh_next
            draw[:, t] = (1.0 - hs[:, t] ** 2) * dh
            dh_next = draw[:, t] @ whh
        h_prev = np.concatenate([h0[:, None, :], hs[:, :-1]], axis=1)
        draw_2d = draw.reshape(B * T, H)
        grads["Whh"] = draw_2d.T @ h_prev.reshape(B * T, H)
        grads["bh"] = draw_2d.sum(axis=0)
        dwxh_t = np.zeros((V, H), dtype=hs.dtype)
        np.add.at(dwxh_t, inputs.reshape(-1), draw_2d)
        grads["Wxh"] = dwxh_t.T
        return loss, grads, hs[:, -1].copy()
