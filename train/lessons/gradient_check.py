"""Proof that the numpy BPTT is right: compare it with PyTorch autograd, and with finite differences.

`compare_with_torch` builds a float64 ``torch.nn.RNN``/``LSTM``/``GRU`` with
random weights, copies it into the numpy cell of `models.numpy_ref.cells`, runs
both on the same random batch, initial state and upstream gradient, and
compares the outputs and every gradient. ``python run.py check-gradients``
prints the result with `format_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from train.lessons.settings import CELL_NAMES, TOLERANCE


@dataclass(frozen=True)
class Comparison:
    """One compared quantity: the numpy value against PyTorch's."""

    cell: str
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """True when no element differs by more than the tolerance."""
        return self.max_abs <= self.tolerance


def differences(ours: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """``(max |ours - reference|, that divided by max |reference|)``; the second is 0 when both are all zero."""
    max_abs = float(np.max(np.abs(ours - reference)))
    scale = float(np.max(np.abs(reference)))
    return max_abs, (max_abs / scale if scale > 0 else max_abs)


def compare_with_torch(cell: str, seed: int = 0, steps: int = 5, batch: int = 3, input_size: int = 4,
                       hidden_size: int = 6, tolerance: float = TOLERANCE) -> list[Comparison]:
    """Outputs and gradients (inputs, initial state, every parameter) of the numpy ``cell`` against autograd."""
    import torch

    from models.numpy_ref.cells import from_torch

    if cell not in CELL_NAMES:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELL_NAMES)}")
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    module = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](input_size, hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(randn(*param.shape) * 0.5)
    state_names = ("h", "c") if cell == "lstm" else ("h",)
    x = randn(steps, batch, input_size).requires_grad_()
    state0 = [randn(1, batch, hidden_size).requires_grad_() for _ in state_names]
    grad_out = randn(steps, batch, hidden_size)
    grad_final = [randn(1, batch, hidden_size) for _ in state_names]

    out, final = module(x, tuple(state0) if cell == "lstm" else state0[0])
    final = list(final) if cell == "lstm" else [final]
    loss = (out * grad_out).sum() + sum((s * g).sum() for s, g in zip(final, grad_final))
    loss.backward()

    ours = from_torch(module)
    numpy_state = [s.detach()[0].numpy() for s in state0]
    numpy_out, numpy_final = ours.forward(x.detach().numpy(), tuple(numpy_state) if cell == "lstm" else numpy_state[0])
    numpy_grad_final = [g[0].numpy() for g in grad_final]
    grad_x, grad_state0, grads = ours.backward(grad_out.numpy(), tuple(numpy_grad_final) if cell == "lstm" else numpy_grad_final[0])
    numpy_final = list(numpy_final) if cell == "lstm" else [numpy_final]
    grad_state0 = list(grad_state0) if cell == "lstm" else [grad_state0]

    pairs: list[tuple[str, np.ndarray, torch.Tensor]] = [("output", numpy_out, out)]
    pairs += [(f"{n}_n", ours_s, theirs[0]) for n, ours_s, theirs in zip(state_names, numpy_final, final)]
    pairs += [("d input", grad_x, x.grad)]
    pairs += [(f"d {n}0", g, s.grad[0]) for n, g, s in zip(state_names, grad_state0, state0)]
    pairs += [(f"d {name}", grads[name], getattr(module, f"{name}_l0").grad) for name in ours.params]
    return [Comparison(cell, name, tuple(a.shape), *differences(a, b.detach().numpy()), tolerance) for name, a, b in pairs]


def format_table(rows: list[Comparison]) -> str:
    """The comparisons as an aligned text table with a pass/fail column."""
    header = ("cell", "quantity", "shape", "max abs diff", "max rel diff", "result")
    lines = [(r.cell, r.name, "x".join(map(str, r.shape)), f"{r.max_abs:.3e}", f"{r.max_rel:.3e}",
              "pass" if r.passed else f"FAIL (> {r.tolerance:g})") for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *lines])


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/dx by central differences, changing ``x`` in place element by element (and restoring it)."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = f()
        x[index] = saved - eps
        minus = f()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad
