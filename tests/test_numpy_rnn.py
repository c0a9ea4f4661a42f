"""The numpy char-RNN: BPTT against finite differences, state carrying, updates, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from models.numpy_ref.char_rnn import PARAM_NAMES, NumpyCharRNN
from models.numpy_ref.optim import SGD, Adagrad, clip_gradients


def _model_and_data(seed: int = 0, V: int = 7, H: int = 5, B: int = 2, T: int = 6):
    model = NumpyCharRNN(V, H, seed=seed, init_scale=0.5)
    rng = np.random.default_rng(seed + 1)
    for name in ("bh", "by"):  # non-zero biases, so their gradients are exercised too
        model.params[name] += rng.standard_normal(model.params[name].shape) * 0.1
    inputs, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    h0 = np.tanh(rng.standard_normal((B, H)))
    return model, inputs, targets, h0


def test_bptt_gradients_match_finite_differences():
    model, inputs, targets, h0 = _model_and_data()
    loss, grads, _ = model.loss_and_grads(inputs, targets, h0)
    assert loss == pytest.approx(model.loss(inputs, targets, h0)[0], rel=1e-12)
    eps = 1e-6
    for name in PARAM_NAMES:
        param, numeric = model.params[name], np.zeros_like(model.params[name])
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            plus = model.loss(inputs, targets, h0)[0]
            param[index] = saved - eps
            minus = model.loss(inputs, targets, h0)[0]
            param[index] = saved
            numeric[index] = (plus - minus) / (2 * eps)
        relative = np.abs(grads[name] - numeric).max() / max(np.abs(numeric).max(), 1e-12)
        assert relative < 1e-6, (name, relative)


def test_vectorised_forward_matches_the_step_by_step_formula():
    model, inputs, _, h0 = _model_and_data(seed=3)
    p, V = model.params, model.vocab_size
    logits, h_last = model.forward(inputs, h0)
    for b in range(inputs.shape[0]):
        h = h0[b]
        for t in range(inputs.shape[1]):
            x = np.zeros(V)
            x[inputs[b, t]] = 1.0
            h = np.tanh(p["Wxh"] @ x + p["Whh"] @ h + p["bh"])
            np.testing.assert_allclose(logits[b, t], p["Why"] @ h + p["by"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(h_last[b], h, rtol=1e-10, atol=1e-12)


def test_hidden_state_carried_across_chunks_equals_one_long_chunk():
    model, _, _, h0 = _model_and_data(seed=5, T=10)
    rng = np.random.default_rng(9)
    inputs, targets = rng.integers(0, 7, (2, 10)), rng.integers(0, 7, (2, 10))
    whole, h_whole = model.loss(inputs, targets, h0)
    first, h_mid = model.loss(inputs[:, :4], targets[:, :4], h0)
    second, h_end = model.loss(inputs[:, 4:], targets[:, 4:], h_mid)
    assert first + second == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(h_end, h_whole)


@pytest.mark.parametrize("optimizer", ["adagrad", "sgd"])
def test_updates_learn_a_repeating_sequence(optimizer):
    V, text = 4, np.tile(np.arange(4), 40)  # 0 1 2 3 0 1 2 3 ...
    model = NumpyCharRNN(V, 16, seed=0)
    updater = Adagrad(model.params, 0.1) if optimizer == "adagrad" else SGD(0.05)
    inputs, targets = text[None, :-1], text[None, 1:]
    start = model.loss(inputs, targets, model.init_state(1))[0] / inputs.size
    for _ in range(150):
        _, grads, _ = model.loss_and_grads(inputs[:, :25], targets[:, :25], model.init_state(1))
        clip_gradients(grads, 5.0)
        updater.step(model.params, grads)
    end = model.loss(inputs, targets, model.init_state(1))[0] / inputs.size
    assert start == pytest.approx(np.log(V), abs=0.01)  # small random weights: uniform predictions
    assert end < 0.2 * start


def test_clip_gradients_bounds_every_element():
    grads = {"a": np.array([-12.0, -1.0, 0.5, 7.0]), "b": np.array([[5.5, -5.5]])}
    clip_gradients(grads, 5.0)
    np.testing.assert_array_equal(grads["a"], [-5.0, -1.0, 0.5, 5.0])
    np.testing.assert_array_equal(grads["b"], [[5.0, -5.0]])


def test_from_arrays_round_trip_and_shape_checks():
    model = NumpyCharRNN(6, 3, seed=1)
    copy = NumpyCharRNN.from_arrays(model.params)
    assert (copy.vocab_size, copy.hidden_size) == (6, 3)
    assert all(np.array_equal(copy.params[k], model.params[k]) for k in PARAM_NAMES)
    bad = dict(model.params, Whh=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="Whh"):
        NumpyCharRNN.from_arrays(bad)
    with pytest.raises(ValueError, match="by"):
        NumpyCharRNN.from_arrays({k: v for k, v in model.params.items() if k != "by"})
