"""models.numpy_ref.cells: BPTT against finite differences and PyTorch autograd; weight copies both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.numpy_ref.cells import (
    CELLS,
    GRU,
    LSTM,
    RNN,
    RecurrentLayer,
    from_torch,
    to_torch,
)
from train.lessons.gradient_check import compare_with_torch, numerical_gradient

TOL = 1e-8
T, B, I, H = 4, 3, 3, 4
TORCH = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def _make(kind: str, rng: np.random.Generator) -> RecurrentLayer:
    if kind.startswith("rnn-"):
        return RNN(I, H, nonlinearity=kind[4:], rng=rng)
    return CELLS[kind](I, H, rng=rng)


def _state(cell: RecurrentLayer, rng: np.random.Generator):
    parts = tuple(rng.normal(size=(B, H)) for _ in range(cell.num_states))
    return parts if cell.num_states > 1 else parts[0]


def _parts(state) -> tuple[np.ndarray, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu", "rnn-sigmoid", "gru", "lstm"])
def test_bptt_matches_finite_differences(kind: str) -> None:
    rng = np.random.default_rng(0)
    cell = _make(kind, rng)
    x = rng.normal(size=(T, B, I))
    state0 = _state(cell, rng)
    grad_out = rng.normal(size=(T, B, H))
    grad_final = _state(cell, rng)

    def loss() -> float:
        out, final = cell.forward(x, state0)
        return float((out * grad_out).sum() + sum((s * g).sum() for s, g in zip(_parts(final), _parts(grad_final))))

    loss()
    grad_x, grad_state0, grads = cell.backward(grad_out, grad_final)
    assert np.abs(grad_x - numerical_gradient(loss, x)).max() < TOL
    for ours, part in zip(_parts(grad_state0), _parts(state0)):
        assert np.abs(ours - numerical_gradient(loss, part)).max() < TOL
    assert set(grads) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    for name, value in cell.params.items():
        assert np.abs(grads[name] - numerical_gradient(loss, value)).max() < TOL, name


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_bptt_matches_torch_autograd(kind: str) -> None:
    torch.manual_seed(0)
    module = TORCH[kind](I, H, dtype=torch.float64)
    cell = from_torch(module)
    n = cell.num_states
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    state0 = [torch.randn(1, B, H, dtype=torch.float64, requires_grad=True) for _ in range(n)]
    grad_out = torch.randn(T, B, H, dtype=torch.float64)
    grad_final = [torch.randn(1, B, H, dtype=torch.float64) for _ in range(n)]
    out, final = module(x, tuple(state0) if n > 1 else state0[0])
    final = list(final) if n > 1 else [final]
    ((out * grad_out).sum() + sum((s * g).sum() for s, g in zip(final, grad_final))).backward()

    pack = (lambda parts: tuple(parts)) if n > 1 else (lambda parts: parts[0])
    np_out, np_final = cell.forward(x.detach().numpy(), pack([s.detach()[0].numpy() for s in state0]))
    grad_x, grad_state0, grads = cell.backward(grad_out.numpy(), pack([g[0].numpy() for g in grad_final]))
    assert np.abs(np_out - out.detach().numpy()).max() < TOL
    for ours, theirs in zip(_parts(np_final), final):
        assert np.abs(ours - theirs.detach()[0].numpy()).max() < TOL
    assert np.abs(grad_x - x.grad.numpy()).max() < TOL
    for ours, theirs in zip(_parts(grad_state0), state0):
        assert np.abs(ours - theirs.grad[0].numpy()).max() < TOL
    for name, grad in grads.items():
        assert np.abs(grad - getattr(module, f"{name}_l0").grad.numpy()).max() < TOL, name


def test_missing_upstream_gradients_count_as_zeros() -> None:
    rng = np.random.default_rng(1)
    cell = LSTM(I, H, rng=rng)
    x = rng.normal(size=(T, B, I))
    cell.forward(x)
    grad_final = (rng.normal(size=(B, H)), rng.normal(size=(B, H)))
    a = cell.backward(None, grad_final)
    b = cell.backward(np.zeros((T, B, H)), grad_final)
    assert np.array_equal(a[0], b[0])
    assert all(np.array_equal(a[2][k], b[2][k]) for k in a[2])


@pytest.mark.parametrize("kind,kwargs", [("rnn", {}), ("rnn", {"nonlinearity": "relu"}), ("gru", {}), ("lstm", {})])
def test_copy_from_torch_gives_identical_outputs(kind: str, kwargs: dict) -> None:
    torch.manual_seed(1)
    module = TORCH[kind](I, H, **kwargs)  # float32: the copy keeps the dtype
    cell = from_torch(module)
    assert cell.params["weight_ih"].dtype == np.float32
    x = torch.randn(T, B, I)
    with torch.no_grad():
        theirs, _ = module(x)
    ours, _ = cell.forward(x.numpy())
    assert np.abs(ours - theirs.numpy()).max() < 1e-6
    with torch.no_grad():
        module.weight_ih_l0.add_(1.0)  # the copy owns its arrays: changing the module leaves it alone
    assert np.array_equal(cell.forward(x.numpy())[0], ours)


@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu", "gru", "lstm"])
def test_copy_to_torch_gives_identical_outputs_and_round_trips(kind: str) -> None:
    rng = np.random.default_rng(2)
    cell = _make(kind, rng)
    module = to_torch(cell)
    assert module.num_layers == 1 and module.hidden_size == H and module.input_size == I
    x = rng.normal(size=(T, B, I))
    state0 = _state(cell, rng)
    ours, our_final = cell.forward(x, state0)
    torch_state = tuple(torch.tensor(s[None]) for s in _parts(state0))
    with torch.no_grad():
        theirs, their_final = module(torch.tensor(x), torch_state if cell.num_states > 1 else torch_state[0])
    assert np.abs(ours - theirs.numpy()).max() < 1e-12
    their_final = their_final if cell.num_states > 1 else (their_final,)
    for a, b in zip(_parts(our_final), their_final):
        assert np.abs(a - b[0].numpy()).max() < 1e-12
    back = from_torch(module)
    assert type(back) is type(cell)
    assert all(np.array_equal(back.params[k], cell.params[k]) for k in cell.params)


def test_copies_refuse_what_they_cannot_represent() -> None:
    with pytest.raises(ValueError, match="single-layer"):
        from_torch(torch.nn.LSTM(I, H, num_layers=2))
    with pytest.raises(ValueError, match="single-layer"):
        from_torch(torch.nn.GRU(I, H, bidirectional=True))
    with pytest.raises(ValueError, match="RNN, LSTM or GRU"):
        from_torch(torch.nn.Linear(I, H))
    with pytest.raises(ValueError, match="sigmoid"):
        to_torch(RNN(I, H, nonlinearity="sigmoid"))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(I, H, nonlinearity="softsign")


def test_parameter_layout_follows_pytorch() -> None:
    for kind, gates in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        cell = CELLS[kind](I, H)
        module = TORCH[kind](I, H)
        for name, value in cell.params.items():
            expected = {"weight_ih": (gates * H, I), "weight_hh": (gates * H, H)}.get(name, (gates * H,))
            assert value.shape == tuple(getattr(module, f"{name}_l0").shape) == expected


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_compare_with_torch_passes_for_correct_cells(kind: str) -> None:
    rows = compare_with_torch(kind, seed=3)
    names = {r.name for r in rows}
    assert {"output", "d input", "d h0", "d weight_ih", "d weight_hh", "d bias_ih", "d bias_hh"} <= names
    assert ("d c0" in names) == (kind == "lstm")
    assert all(r.passed and r.max_abs < 1e-12 for r in rows)


def test_compare_with_torch_catches_a_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    original = GRU._step_backward

    def forget_reset_gate(self, grad_state, cache):
        dgi, dgh, d_prev = original(self, grad_state, cache)
        dgi[:, :H] = 0.0  # drop the gradient through r
        return dgi, dgh, d_prev

    monkeypatch.setattr(GRU, "_step_backward", forget_reset_gate)
    failed = {r.name for r in compare_with_torch("gru", hidden_size=H) if not r.passed}
    assert "d weight_ih" in failed and "d bias_ih" in failed
    assert "output" not in failed
