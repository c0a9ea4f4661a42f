"""Whether a model will fit before it is built: its training memory estimated and set against what the device has free.

`TrainingFootprint` estimates the bytes a recurrent model needs to train from its parameter count (counted on
torch's ``meta`` device, where building a model allocates nothing: `count_parameters`) and the shape of one
batch. The estimate is a floor, not a promise (the allocator, the data and Python add to it), so a run it refuses
could never have trained, while one it lets through may still be short of memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from data_processor.base.errors import ConfigError

FLOAT_BYTES = 4  # float32 weights and activations
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "momentum": 1, "rmsprop": 1, "adagrad": 1}  # per-weight buffers; plain SGD keeps none
GATES = {"lstm": 4, "gru": 3, "rnn": 1, "numpy-rnn": 1}  # gate blocks per recurrent unit (the scratch cells have as many as the layers they copy)
GIB = 2**30
# The options that set the size of a text encoder's weights, and of one batch of its tokens (classifier and pretraining).
TEXT_SIZE_OPTIONS = "--hidden-size, --embed-dim, --num-layers or --max-vocab"
TEXT_BATCH_OPTIONS = "--batch-size or --max-len"


def count_parameters(build: Callable[[], nn.Module]) -> int:
    """The number of parameters of the model ``build`` makes, built on the ``meta`` device: shapes only, no memory."""
    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class TrainingFootprint:
    """What training a recurrent model holds in memory at once: ``parameters`` with their gradients, optimizer state
    and a kept copy of the best weights; and the activations of one batch of ``rows`` x ``steps`` tokens kept for the
    backward pass (the embedded tokens, each layer's gates and states, and for a language model ``outputs_per_token``
    scores per token: logits, their softmax and its gradient)."""

    parameters: int
    optimizer: str
    rows: int
    steps: int
    embed_dim: int
    hidden_size: int
    num_layers: int
    directions: int
    cell: str
    outputs_per_token: int = 0

    @property
    def weight_bytes(self) -> int:
        """The weights, their gradients, the optimizer's buffers and the best weights kept aside."""
        copies = 3 + OPTIMIZER_STATES.get(self.optimizer, 0)
        return self.parameters * copies * FLOAT_BYTES

    @property
    def activation_bytes(self) -> int:
        """What the forward pass of one batch keeps for the backward pass."""
        gates = GATES.get(self.cell.removeprefix("scratch-"), 4)
        per_token = 2 * self.embed_dim + self.num_layers * self.directions * (gates + 3) * self.hidden_size
        return self.rows * self.steps * (per_token + 3 * self.outputs_per_token) * FLOAT_BYTES

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a model on ``device``: a GPU's free memory, or for the CPU what the system says is available
    (``MemAvailable``), less than that under a container's (cgroup) limit. None where neither can be read."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    free = _meminfo_available()
    limit = _cgroup_room()
    return min(v for v in (free, limit) if v is not None) if free is not None or limit is not None else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """A cgroup v2 memory limit less what the group uses now; None without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            limit = handle.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            return max(0, int(limit) - int(handle.read().strip()))
    except (OSError, ValueError):
        return None


def check_fits(footprint: TrainingFootprint, device: torch.device, size_options: str, batch_options: str,
               available: int | None = None) -> None:
    """A `ConfigError` when ``footprint`` needs more memory than ``device`` has free (``available``, when given, is
    used instead of measuring), naming the options to lower: ``size_options`` when the weights need most of it,
    ``batch_options`` when one batch's activations do. Nothing is checked when the free memory cannot be read."""
    free = available_bytes(device) if available is None else available
    if free is not None and device.type == "cpu":
        free //= processes_on_this_machine()  # each torchrun process holds its own copy
    if free is None or footprint.total_bytes <= free:
        return
    weights_heavier = footprint.weight_bytes >= footprint.activation_bytes
    lower = size_options if weights_heavier else batch_options
    parts = f"{footprint.parameters:,} parameters: {_gib(footprint.weight_bytes)} with their gradients and optimizer state"
    if footprint.activation_bytes:
        parts += f"; one batch of {footprint.rows} x {footprint.steps} tokens: {_gib(footprint.activation_bytes)}"
    raise ConfigError(f"training this model needs at least {_gib(footprint.total_bytes)} of memory ({parts}), but the "
                      f"{'GPU' if device.type == 'cuda' else 'machine'} has {_gib(free)} free; lower {lower}")


def _gib(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB / 10 else f"{size / 2**20:.0f} MiB"


def processes_on_this_machine() -> int:
    """How many training processes share this machine's memory: torchrun's local world size, else 1."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or "1")
