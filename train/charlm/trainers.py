"""One training step and one scoring step of a character model, for the torch and the numpy backends.

Both trainers take chunks of ids ``[rows, T]`` as numpy arrays and a state
(None: zeros), and return the loss summed over the chunk in nats with the
state after its last step, cut from any graph so the next chunk can carry
it (truncated backpropagation through time).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from data_processor.base.errors import DataError
from models.char_lm import CharLM, State, detach_state
from models.numpy_ref.char_rnn import PARAM_NAMES, NumpyCharRNN
from models.numpy_ref.optim import SGD, Adagrad, clip_gradients
from train.common.distributed import SINGLE, Cluster
from train.common.rundir import RunDir

NUMPY_CHECKPOINT = "model.npz"


class LMTrainer(Protocol):
    """What `train.charlm.fit` needs from a backend."""

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, state: Any, total: int | None = None) -> tuple[float, Any]:
        """Update the model on one chunk (``total``: the targets of the whole chunk when this is one process's share);
        (summed loss in nats, state after the chunk, detached)."""
        ...

    def eval_loss(self, inputs: np.ndarray, targets: np.ndarray, state: Any) -> tuple[float, Any]:
        """Score one chunk without learning; (summed loss in nats, state after the chunk)."""
        ...

    def learning_rate(self) -> float:
        """The current learning rate, for the metrics."""
        ...

    def save(self, run: RunDir) -> None:
        """Write the model's weights into the run directory."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything training changes (weights, optimizer state), for a resumable checkpoint."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state taken by `state_dict`."""
        ...


class TorchLMTrainer:
    """Cross-entropy, backward, gradient-norm clipping and an optimizer step for a `CharLM`.

    With a distributed ``cluster`` the model trains inside `DistributedDataParallel` on this process's lanes, the
    summed loss scaled by ``world / total`` so the averaged gradient is that of the mean over the whole chunk.
    """

    def __init__(self, model: CharLM, optimizer: torch.optim.Optimizer, clip: float, device: torch.device,
                 cluster: Cluster = SINGLE) -> None:
        self.model, self.optimizer, self.clip, self.device, self.cluster = model, optimizer, clip, device, cluster
        self.parallel = cluster.wrap(model, device)

    def _logits(self, model: nn.Module, inputs: np.ndarray, targets: np.ndarray, state: State) -> tuple[torch.Tensor, torch.Tensor, State]:
        x = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
        y = torch.from_numpy(np.ascontiguousarray(targets)).to(self.device)
        logits, state = model(x, state)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"), y, state

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, state: State, total: int | None = None) -> tuple[float, State]:
        self.model.train()
        loss, y, state = self._logits(self.parallel, inputs, targets, state)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * (self.cluster.world / (total or y.numel())) if self.cluster.distributed else loss / y.numel()).backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss.item(), detach_state(state)

    @torch.inference_mode()
    def eval_loss(self, inputs: np.ndarray, targets: np.ndarray, state: State) -> tuple[float, State]:
        self.model.eval()
        loss, _, state = self._logits(self.model, inputs, targets, state)
        return loss.item(), state

    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def save(self, run: RunDir) -> None:
        """Write the model's weights to the run's ``model.pt`` (a state_dict, atomically)."""
        run.save_state_dict({k: v.detach().cpu() for k, v in self.model.state_dict().items()})

    def state_dict(self) -> dict[str, Any]:
        """The model's and the optimizer's state, for a resumable checkpoint."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state taken by `state_dict`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


class NumpyLMTrainer:
    """BPTT, element-wise gradient clipping and an Adagrad or SGD update for a `NumpyCharRNN`."""

    def __init__(self, model: NumpyCharRNN, optimizer: str, lr: float, clip: float) -> None:
        self.model, self.clip = model, clip
        self.updater = Adagrad(model.params, lr) if optimizer == "adagrad" else SGD(lr)

    def _h0(self, inputs: np.ndarray, state: np.ndarray | None) -> np.ndarray:
        return self.model.init_state(inputs.shape[0]) if state is None else state

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, state: np.ndarray | None, total: int | None = None) -> tuple[float, np.ndarray]:
        loss, grads, h = self.model.loss_and_grads(inputs, targets, self._h0(inputs, state))
        if self.clip:
            clip_gradients(grads, self.clip)
        self.updater.step(self.model.params, grads)
        return loss, h

    def eval_loss(self, inputs: np.ndarray, targets: np.ndarray, state: np.ndarray | None) -> tuple[float, np.ndarray]:
        return self.model.loss(inputs, targets, self._h0(inputs, state))

    def learning_rate(self) -> float:
        return self.updater.lr

    def save(self, run: RunDir) -> None:
        """Write the model's arrays to the run's ``model.npz`` (atomically)."""
        run.save_arrays(NUMPY_CHECKPOINT, self.model.params)

    def state_dict(self) -> dict[str, Any]:
        """The parameters and Adagrad's summed squared gradients, as tensors (for a checkpoint loaded with weights_only)."""
        memory = getattr(self.updater, "memory", {})
        return {"model": {k: torch.from_numpy(v.copy()) for k, v in self.model.params.items()},
                "memory": {k: torch.from_numpy(v.copy()) for k, v in memory.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state taken by `state_dict` (in place: the arrays keep their identity)."""
        for name, value in state["model"].items():
            np.copyto(self.model.params[name], value.numpy())
        for name, value in state["memory"].items():
            np.copyto(self.updater.memory[name], value.numpy())  # type: ignore[union-attr]


def load_numpy_model(run: RunDir) -> NumpyCharRNN:
    """The `NumpyCharRNN` of a run's ``model.npz`` (arrays only: no pickled objects are read)."""
    arrays = run.load_arrays(NUMPY_CHECKPOINT)
    try:
        return NumpyCharRNN.from_arrays({name: arrays[name] for name in arrays if name in PARAM_NAMES})
    except ValueError as exc:
        raise DataError(f"{run.file(NUMPY_CHECKPOINT)}: not a numpy char-RNN checkpoint ({exc})") from None
