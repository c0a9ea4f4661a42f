"""Resumable training: what an interrupted run needs to go on exactly where it stopped.

After every epoch the epoch loop hands a checkpoint to `save_checkpoint`,
which writes ``last.pt`` atomically beside the best weights: the loop's
progress (records, best epoch and score, how it ended), the trainer's state
(model, optimizer, schedule, the batch order's generator) and the random
generators of Python, numpy and torch. Everything in it is a tensor, a number,
a string, a list or a dict, so it loads with ``weights_only=True`` and never
runs code. Put back in the same process setup (same machine and thread
count), a resumed run makes the same steps as one that was never stopped.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import torch

from data_processor.base.atomic import write_text
from data_processor.base.errors import DataError
from train.common.rundir import LAST, RunDir, save_torch

FORMAT = 1  # the layout of last.pt; a file of another layout is refused


def rng_states() -> dict[str, Any]:
    """The states of Python's, numpy's and torch's global generators (and CUDA's, when present), as tensors and numbers."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    states: dict[str, Any] = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back generator states taken by `rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss_value = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss_value))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy ``Generator``'s state (plain numbers and strings)."""
    return rng.bit_generator.state


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put back a state taken by `generator_state`."""
    rng.bit_generator.state = state


def save_checkpoint(run: RunDir, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` (the loop's, the trainer's and the generators' states) to the run's ``last.pt``, atomically."""
    save_torch({"format": FORMAT, **checkpoint}, run.file(LAST))


def load_checkpoint(run: RunDir) -> dict[str, Any] | None:
    """The run's ``last.pt`` (None when no epoch finished); a `DataError` when it is damaged or of another layout."""
    if not run.file(LAST).is_file():
        return None
    checkpoint = run.load_tensors(LAST)
    if checkpoint.get("format") != FORMAT or not {"loop", "trainer", "rng"} <= set(checkpoint):
        raise DataError(f"{run.file(LAST)}: not a resumable state written by this version of the tool; train the run again")
    return checkpoint


def resumed_best_state(run: RunDir, checkpoint: dict[str, Any], weights: str = "model", save: bool = True) -> dict[str, torch.Tensor]:
    """The best weights up to a checkpoint: its own ``trainer[weights]`` when its last epoch was the best (``model.pt``
    may not have been written yet), else ``model.pt``, which is never ahead of ``last.pt``. With ``save``, ``model.pt``
    is rewritten in the first case."""
    loop = checkpoint["loop"]
    if loop["best_epoch"] == len(loop["history"]):
        best = {k: v.clone() for k, v in checkpoint["trainer"][weights].items()}
        if save:
            run.save_state_dict(best)
        return best
    return run.load_state_dict()


class Interrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the message says where the run is and how to go on with it."""

    def __init__(self, run: RunDir, command: str = "python run.py train") -> None:
        super().__init__(f"the run so far is in {run.path}; continue it with: {command} --resume {run.path}")


def open_interrupted(path: str, kind: str) -> RunDir:
    """The interrupted run of ``kind`` at ``path``, locked for this process; a `DataError` when it finished or is training now."""
    run = RunDir.open(path, kind)
    if run.complete():
        raise DataError(f"{run.path}: this run finished (its results are in summary.json); there is nothing to resume")
    run.lock()
    return run


def restore_metrics(run: RunDir, checkpoint: dict[str, Any]) -> None:
    """Rewrite the run's ``metrics.jsonl`` from the checkpoint's records (an epoch after the checkpoint will be trained again)."""
    write_text(run.file("metrics.jsonl"), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in checkpoint["loop"]["history"]))
