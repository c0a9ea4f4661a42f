"""Numpy layers with hand-written backward passes, for learning backpropagation.

Every layer follows one protocol:

- ``forward(x)`` returns the output and keeps what ``backward`` needs;
- ``backward(grad_out)`` takes dLoss/dOutput and returns ``(grad_input, grads)``,
  where ``grads`` maps each name in ``layer.params`` to dLoss/dParameter
  (an empty dict for layers without parameters).

Shapes follow PyTorch: ``Linear.params["weight"]`` is ``[out, in]``; activations
work on the last axis and treat any leading axes as batch axes.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

Grads = dict[str, np.ndarray]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, written through tanh so large ``|x|`` never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def log_softmax(x: np.ndarray) -> np.ndarray:
    """``log(softmax(x))`` over the last axis, shifted by the maximum for stability."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Layer:
    """Base class: a layer with named parameters, a forward pass and a backward pass."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x``; remembers what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        """``(dLoss/dInput, {name: dLoss/dParameter})`` from ``dLoss/dOutput`` of the last forward."""
        raise NotImplementedError


class Linear(Layer):
    """``y = x W^T + b`` with ``W`` of shape ``[out, in]``, initialised like ``torch.nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(in_features)
        self.params = {
            "weight": rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype),
            "bias": rng.uniform(-bound, bound, out_features).astype(dtype),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        weight = self.params["weight"]
        x = self._x.reshape(-1, weight.shape[1])
        g = grad_out.reshape(-1, weight.shape[0])
        return grad_out @ weight, {"weight": g.T @ x, "bias": g.sum(axis=0)}


class ReLU(Layer):
    """``y = max(x, 0)``; the gradient passes where ``x > 0``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, 0.0)

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        return grad_out * self._mask, {}


class Tanh(Layer):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        return grad_out * (1.0 - self._y**2), {}


class Sigmoid(Layer):
    """``y = 1 / (1 + e^-x)``; ``dy/dx = y (1 - y)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        return grad_out * self._y * (1.0 - self._y), {}


class Softmax(Layer):
    """``y = exp(x) / sum(exp(x))`` over the last axis; ``dx = y * (g - sum(g * y))``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.exp(log_softmax(x))
        return self._y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        y = self._y
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True)), {}


class LogSoftmax(Layer):
    """``y = x - log(sum(exp(x)))`` over the last axis; ``dx = g - softmax(x) * sum(g)``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = log_softmax(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, Grads]:
        return grad_out - np.exp(self._y) * grad_out.sum(axis=-1, keepdims=True), {}


class CrossEntropyLoss:
    """Mean cross-entropy of logits ``[N, C]`` against class ids ``[N]``, plus an L2 term.

    ``loss = mean_n(-log softmax(logits_n)[target_n]) + l2 / 2 * sum_w ||w||^2``
    over the ``weights`` given to ``forward``, so the L2 gradient is ``l2 * w``
    (what optimizers call weight decay). With ``l2 = 0`` it equals
    ``torch.nn.functional.cross_entropy``.
    """

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = l2
        self._log_softmax = LogSoftmax()

    def forward(self, logits: np.ndarray, targets: np.ndarray, weights: Mapping[str, np.ndarray] | None = None) -> float:
        """The loss; ``weights`` are the named arrays the L2 term penalises."""
        self._targets = np.asarray(targets)
        self._weights = dict(weights or {})
        self._log_probs = self._log_softmax.forward(logits)
        nll = -self._log_probs[np.arange(len(self._targets)), self._targets].mean()
        penalty = 0.5 * self.l2 * sum(float((w**2).sum()) for w in self._weights.values())
        return float(nll + penalty)

    def backward(self, grad_out: float = 1.0) -> tuple[np.ndarray, Grads]:
        """``(dLoss/dLogits, {name: dLoss/dWeight})`` for the weights given to ``forward``."""
        n = len(self._targets)
        grad_log_probs = np.zeros_like(self._log_probs)
        grad_log_probs[np.arange(n), self._targets] = -grad_out / n
        grad_logits, _ = self._log_softmax.backward(grad_log_probs)
        return grad_logits, {name: grad_out * self.l2 * w for name, w in self._weights.items()}
