"""Updates for numpy parameters: plain SGD, Adagrad, and element-wise gradient clipping."""

from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


def clip_gradients(grads: Arrays, bound: float) -> None:
    """Clip every gradient element to ``[-bound, bound]`` in place (against exploding gradients)."""
    for g in grads.values():
        np.clip(g, -bound, bound, out=g)


class SGD:
    """Plain gradient descent: ``param -= lr * grad``."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, params: Arrays, grads: Arrays) -> None:
        for name, g in grads.items():
            params[name] -= self.lr * g


class Adagrad:
    """Adagrad: each parameter's step is divided by the root of its summed squared gradients."""

    def __init__(self, params: Arrays, lr: float, eps: float = 1e-8) -> None:
        self.lr, self.eps = lr, eps
        self.memory = {name: np.zeros_like(p) for name, p in params.items()}

    def step(self, params: Arrays, grads: Arrays) -> None:
        for name, g in grads.items():
            memory = self.memory[name]
            memory += g * g
            params[name] -= self.lr * g / np.sqrt(memory + self.eps)
