"""A numpy RNN learns to add 8-bit numbers, trained by hand-written BPTT.

Each step reads one bit of each operand, least significant first, and writes
one bit of the sum, so the hidden state has to learn the carry. The model is
`models.numpy_ref.cells.RNN` with a sigmoid hidden layer, then a
`models.numpy_ref.layers.Linear` read-out to two logits per step (bit 0 or 1)
and `CrossEntropyLoss`; training is plain minibatch SGD. Operands are below
``2**(bits-1)``, so every sum fits in ``bits`` bits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from data_processor.base.errors import ConfigError
from models.numpy_ref.cells import RNN
from models.numpy_ref.layers import CrossEntropyLoss, Linear
from train.lessons.settings import BinaryAdditionSettings

Log = Callable[[str], None]
ITERATIONS = BinaryAdditionSettings.iterations


def to_bits(numbers: np.ndarray, bits: int) -> np.ndarray:
    """``[bits, N]`` array of 0/1, least significant bit first."""
    return (np.asarray(numbers)[None, :] >> np.arange(bits)[:, None]) & 1


def from_bits(bits: np.ndarray) -> np.ndarray:
    """Inverse of `to_bits`: ``[bits, N]`` 0/1 (least significant first) -> ``[N]`` integers."""
    return (np.asarray(bits, dtype=np.int64) << np.arange(len(bits))[:, None]).sum(axis=0)


@dataclass
class Adder:
    """The recurrent layer and its read-out."""

    rnn: RNN
    readout: Linear

    def logits(self, a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
        """``[bits, N, 2]`` logits for the sum bits of ``a + b``."""
        x = np.stack([to_bits(a, bits), to_bits(b, bits)], axis=-1).astype(np.float64)
        hidden, _ = self.rnn.forward(x)
        return self.readout.forward(hidden)

    def add(self, a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
        """The model's sums of ``a + b``."""
        return from_bits(self.logits(a, b, bits).argmax(axis=-1))


@dataclass
class AdditionResult:
    """The trained model, its accuracy over every operand pair, and how long training took."""

    adder: Adder
    accuracy: float
    pairs: int
    iterations: int
    seconds: float


def exhaustive_accuracy(adder: Adder, bits: int) -> tuple[float, int]:
    """Share of all ``(a, b)`` with ``a, b < 2**(bits-1)`` whose sum the model gets exactly right, and their count."""
    a, b = np.divmod(np.arange(4 ** (bits - 1)), 2 ** (bits - 1))
    return float(np.mean(adder.add(a, b, bits) == a + b)), len(a)


def train_binary_addition(iterations: int = ITERATIONS, batch_size: int = 32, hidden_size: int = 16, lr: float = 1.0,
                          bits: int = 8, seed: int = 0, log: Log | None = None, log_every: int = 500) -> AdditionResult:
    """Train an `Adder` on random additions with SGD; ``log`` receives progress lines."""
    if iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {iterations}")
    rng = np.random.default_rng(seed)
    adder = Adder(RNN(2, hidden_size, nonlinearity="sigmoid", rng=rng), Linear(hidden_size, 2, rng=rng))
    loss_fn = CrossEntropyLoss()
    limit = 2 ** (bits - 1)
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        a, b = rng.integers(0, limit, batch_size), rng.integers(0, limit, batch_size)
        logits = adder.logits(a, b, bits)
        loss = loss_fn.forward(logits.reshape(-1, 2), to_bits(a + b, bits).reshape(-1))
        grad_logits, _ = loss_fn.backward()
        grad_hidden, readout_grads = adder.readout.backward(grad_logits.reshape(logits.shape))
        _, _, rnn_grads = adder.rnn.backward(grad_hidden)
        for params, grads in ((adder.rnn.params, rnn_grads), (adder.readout.params, readout_grads)):
            for name, grad in grads.items():
                params[name] -= lr * grad
        if log is not None and (it % log_every == 0 or it == iterations):
            right = float(np.mean(adder.add(a, b, bits) == a + b))
            guess = adder.add(a[:1], b[:1], bits)[0]
            log(f"iteration {it:5d}  loss {loss:.4f}  batch accuracy {right:6.1%}  "
                f"e.g. {a[0]} + {b[0]}: model says {guess}, true {a[0] + b[0]}")
    accuracy, pairs = exhaustive_accuracy(adder, bits)
    return AdditionResult(adder, accuracy, pairs, iterations, time.perf_counter() - start)
