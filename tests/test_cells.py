"""The from-scratch GRU and LSTM against PyTorch's, given the same weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.cells import ScratchGRU, ScratchLSTM

PAIRS = [(ScratchGRU, nn.GRU), (ScratchLSTM, nn.LSTM)]


def _twins(scratch_cls, torch_cls, dtype, num_layers=2, input_size=5, hidden=7):
    torch.manual_seed(0)
    reference = torch_cls(input_size, hidden, num_layers=num_layers, batch_first=True).to(dtype)
    scratch = scratch_cls(input_size, hidden, num_layers=num_layers).to(dtype)
    scratch.load_state_dict(reference.state_dict())
    return scratch, reference


def _initial_state(torch_cls, dtype, num_layers=2, batch=3, hidden=7):
    h0 = torch.randn(num_layers, batch, hidden, dtype=dtype)
    return (h0, torch.randn_like(h0)) if torch_cls is nn.LSTM else h0


def _flat(state):
    return torch.cat([s.reshape(-1) for s in state]) if isinstance(state, tuple) else state.reshape(-1)


@pytest.mark.parametrize("scratch_cls,torch_cls", PAIRS)
def test_same_parameters_as_pytorch(scratch_cls, torch_cls):
    scratch, reference = scratch_cls(4, 6, num_layers=2), torch_cls(4, 6, num_layers=2, batch_first=True)
    ours = {k: tuple(v.shape) for k, v in scratch.named_parameters()}
    assert ours == {k: tuple(v.shape) for k, v in reference.named_parameters()}
    assert all(p.requires_grad for p in scratch.parameters())
    bound = 1 / math.sqrt(6)
    assert all(p.abs().max() <= bound and p.std() > 0 for p in scratch.parameters())
    assert not any(isinstance(m, nn.RNNBase) for m in scratch.modules())  # no nn.GRU / nn.LSTM inside


@pytest.mark.parametrize("scratch_cls,torch_cls", PAIRS)
@pytest.mark.parametrize("with_state", [False, True])
def test_outputs_match_pytorch_to_1e_6(scratch_cls, torch_cls, with_state):
    scratch, reference = _twins(scratch_cls, torch_cls, torch.float32)
    x = torch.randn(3, 11, 5)
    state = _initial_state(torch_cls, torch.float32) if with_state else None
    ours, our_state = scratch(x, state)
    theirs, their_state = reference(x, state)
    assert (ours - theirs).abs().max().item() < 1e-6
    assert (_flat(our_state) - _flat(their_state)).abs().max().item() < 1e-6


@pytest.mark.parametrize("scratch_cls,torch_cls", PAIRS)
def test_gradients_match_pytorch(scratch_cls, torch_cls):
    scratch, reference = _twins(scratch_cls, torch_cls, torch.float64)
    x = torch.randn(3, 9, 5, dtype=torch.float64)
    state = _initial_state(torch_cls, torch.float64)
    target = torch.randn(3, 9, 7, dtype=torch.float64)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    for module, inp in zip((scratch, reference), xs):
        out, final = module(inp, state)
        ((out - target) ** 2).sum().add(_flat(final).sin().sum()).backward()
    for (name, ours), theirs in zip(scratch.named_parameters(), reference.parameters()):
        assert torch.allclose(ours.grad, theirs.grad, rtol=1e-9, atol=1e-10), name
    assert torch.allclose(xs[0].grad, xs[1].grad, rtol=1e-9, atol=1e-10)


def test_dropout_between_layers_only_in_training():
    scratch = ScratchGRU(4, 8, num_layers=2, dropout=0.5)
    x = torch.randn(2, 5, 4)
    scratch.eval()
    first, _ = scratch(x)
    second, _ = scratch(x)
    assert torch.equal(first, second)
    scratch.train()
    torch.manual_seed(1)
    noisy, _ = scratch(x)
    assert not torch.allclose(noisy, first)
