"""models.numpy_ref.layers: every backward pass against finite differences and against PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.numpy_ref.layers import (
    CrossEntropyLoss,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from train.lessons.gradient_check import numerical_gradient

TOL = 1e-8

LAYERS = {
    "linear": (lambda rng: Linear(5, 3, rng=rng), lambda x, p: F.linear(x, p["weight"], p["bias"])),
    "relu": (lambda rng: ReLU(), torch.relu),
    "tanh": (lambda rng: Tanh(), torch.tanh),
    "sigmoid": (lambda rng: Sigmoid(), torch.sigmoid),
    "softmax": (lambda rng: Softmax(), lambda x: torch.softmax(x, dim=-1)),
    "log_softmax": (lambda rng: LogSoftmax(), lambda x: torch.log_softmax(x, dim=-1)),
}


def _input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(size=shape)
    return x + np.sign(x) * 0.01  # keep away from ReLU's kink, where finite differences are meaningless


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)], ids=["2d", "3d"])
def test_layer_backward_matches_finite_differences(name: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    layer = LAYERS[name][0](rng)
    x = _input(rng, shape)
    grad_out = rng.normal(size=layer.forward(x).shape)

    def loss() -> float:
        return float((layer.forward(x) * grad_out).sum())

    loss()
    grad_x, grads = layer.backward(grad_out)
    assert set(grads) == set(layer.params)
    assert np.abs(grad_x - numerical_gradient(loss, x)).max() < TOL
    for key, value in layer.params.items():
        assert np.abs(grads[key] - numerical_gradient(loss, value)).max() < TOL, key


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch_autograd(name: str) -> None:
    rng = np.random.default_rng(2)
    layer, torch_fn = LAYERS[name]
    layer = layer(rng)
    x = _input(rng, (2, 4, 5))
    out = layer.forward(x)
    grad_out = rng.normal(size=out.shape)
    grad_x, grads = layer.backward(grad_out)

    tx = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    tout = torch_fn(tx, tparams) if tparams else torch_fn(tx)
    tout.backward(torch.tensor(grad_out))
    assert np.abs(out - tout.detach().numpy()).max() < TOL
    assert np.abs(grad_x - tx.grad.numpy()).max() < TOL
    for key, tparam in tparams.items():
        assert np.abs(grads[key] - tparam.grad.numpy()).max() < TOL, key


def test_softmax_rows_sum_to_one_even_for_huge_logits() -> None:
    y = Softmax().forward(np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]]))
    assert np.allclose(y.sum(axis=1), 1.0)
    assert np.allclose(y[1], 1 / 3)
    assert np.isfinite(LogSoftmax().forward(np.array([[1000.0, -1000.0]]))).all()


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_cross_entropy_with_l2_matches_torch_and_finite_differences(l2: float) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4))
    targets = rng.integers(0, 4, 6)
    weights = {"w1": rng.normal(size=(3, 2)), "w2": rng.normal(size=5)}
    loss_fn = CrossEntropyLoss(l2=l2)
    loss = loss_fn.forward(logits, targets, weights)
    grad_logits, grads = loss_fn.backward()

    t_logits = torch.tensor(logits, requires_grad=True)
    t_weights = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    t_loss = F.cross_entropy(t_logits, torch.tensor(targets)) + l2 / 2 * sum((w**2).sum() for w in t_weights.values())
    t_loss.backward()
    assert abs(loss - t_loss.item()) < TOL
    assert np.abs(grad_logits - t_logits.grad.numpy()).max() < TOL
    for key, w in t_weights.items():
        assert np.abs(grads[key] - w.grad.numpy()).max() < TOL

    def f() -> float:
        return loss_fn.forward(logits, targets, weights)

    assert np.abs(grad_logits - numerical_gradient(f, logits)).max() < TOL
    assert np.abs(grads["w1"] - numerical_gradient(f, weights["w1"])).max() < TOL


def test_cross_entropy_backward_scales_with_upstream_gradient() -> None:
    rng = np.random.default_rng(4)
    loss_fn = CrossEntropyLoss(l2=0.5)
    weights = {"w": rng.normal(size=3)}
    loss_fn.forward(rng.normal(size=(3, 2)), np.array([0, 1, 1]), weights)
    g1, w1 = loss_fn.backward(1.0)
    g3, w3 = loss_fn.backward(3.0)
    assert np.allclose(g3, 3 * g1) and np.allclose(w3["w"], 3 * w1["w"])
    assert np.allclose(w1["w"], 0.5 * weights["w"])
