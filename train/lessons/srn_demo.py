"""The 2-unit simple recurrent network, step by step: by hand in numpy, then through torch.

Two inputs, two hidden units, two outputs, every weight 1 and every bias 0::

    s_t = act(U x_t + W s_{t-1} + b)      o_t = V s_t + c      s_0 = 0

run over the inputs [1, 1], [1, 1], [2, 2], first with ``act`` the identity
(no tanh), then with tanh, then through ``nn.RNNCell`` (one call per step) and
``nn.RNN`` (the whole sequence in one call), which use tanh and must agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUTS = ((1.0, 1.0), (1.0, 1.0), (2.0, 2.0))
SIZE = 2
ACTIVATIONS = {"identity": lambda a: a, "tanh": np.tanh}


@dataclass(frozen=True)
class Step:
    """One time step: the input, the new state and the output."""

    input: np.ndarray
    state: np.ndarray
    output: np.ndarray


def numpy_steps(activation: str) -> list[Step]:
    """The SRN by hand with ``activation`` ``identity`` or ``tanh``."""
    act = ACTIVATIONS[activation]
    u = w = v = np.ones((SIZE, SIZE))
    b = c = np.zeros(SIZE)
    state, steps = np.zeros(SIZE), []
    for x in map(np.array, INPUTS):
        state = act(u @ x + w @ state + b)
        steps.append(Step(x, state, v @ state + c))
    return steps


def torch_steps(module: str) -> list[Step]:
    """The tanh SRN through ``nn.RNNCell`` (``module="rnncell"``) or ``nn.RNN`` (``"rnn"``), in float64."""
    import torch
    from torch import nn

    recurrent = (nn.RNNCell if module == "rnncell" else nn.RNN)(SIZE, SIZE, dtype=torch.float64)
    readout = nn.Linear(SIZE, SIZE, dtype=torch.float64)
    with torch.no_grad():
        for layer in (recurrent, readout):
            for name, param in layer.named_parameters():
                param.fill_(1.0 if name.startswith("weight") else 0.0)
        xs = torch.tensor(INPUTS, dtype=torch.float64)
        if module == "rnncell":
            state, states = torch.zeros(1, SIZE, dtype=torch.float64), []
            for x in xs:
                state = recurrent(x[None], state)
                states.append(state[0])
            states = torch.stack(states)
        else:
            states, _ = recurrent(xs[:, None, :])  # [T, batch 1, H]
            states = states[:, 0]
        outputs = readout(states)
    return [Step(x.numpy(), s.numpy(), o.numpy()) for x, s, o in zip(xs, states, outputs)]


def _vector(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.8g}" for v in values) + "]"


def format_steps(title: str, steps: list[Step]) -> str:
    """A titled table of ``t``, input, state and output."""
    rows = [("t", "input", "state", "output")]
    rows += [(str(t), _vector(s.input), _vector(s.state), _vector(s.output)) for t, s in enumerate(steps, 1)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join([title] + ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows])


def max_difference(a: list[Step], b: list[Step]) -> float:
    """The largest difference between the states or outputs of two runs."""
    return max(float(np.max(np.abs(x.state - y.state) + np.abs(x.output - y.output))) for x, y in zip(a, b))


def srn_demo() -> str:
    """The whole demo as text: the four step tables and whether torch agrees with the numpy tanh run."""
    by_hand = numpy_steps("tanh")
    cell, whole = torch_steps("rnncell"), torch_steps("rnn")
    parts = [
        "Simple recurrent network: 2 inputs, 2 hidden units, 2 outputs; all weights 1, all biases 0",
        "  s_t = act(U x_t + W s_(t-1) + b),  o_t = V s_t + c,  s_0 = 0",
        format_steps("numpy, act = identity (no tanh):", numpy_steps("identity")),
        format_steps("numpy, act = tanh:", by_hand),
        format_steps("torch nn.RNNCell (tanh), one call per step, then nn.Linear:", cell),
        format_steps("torch nn.RNN (tanh), the whole sequence in one call, then nn.Linear:", whole),
        f"nn.RNNCell vs numpy tanh: max difference {max_difference(cell, by_hand):.1e}\n"
        f"nn.RNN     vs numpy tanh: max difference {max_difference(whole, by_hand):.1e}",
    ]
    return "\n\n".join(parts)
