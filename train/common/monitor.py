"""Live monitoring of a training run in TensorBoard (``--tensorboard DIR``).

While a run trains, `TensorBoardLog` writes TensorBoard event files under
``DIR/<run name>`` (one folder per run, so runs can be compared side by side):
each step's training loss and learning rate (``step/loss``, ``step/lr``, by the
step's number since the run began, also across a resume), and each epoch's
record (``epoch/train_loss``, ``epoch/dev_accuracy``, ... every number the
epoch's log line is made from). View them with::

    tensorboard --logdir DIR

The training programs open the log around their epochs (`monitoring`); the
shared epoch loop (`train.common.loop`) writes to the open one, if any.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterator

from data_processor.base.errors import ConfigError

# Record keys that are not measurements of the model (the epoch number, timings, flags).
NOT_PLOTTED = frozenset({"epoch", "seconds", "train_seconds", "elapsed", "partial", "steps"})


class TensorBoardLog:
    """Writes scalars to TensorBoard event files in ``folder`` with torch's SummaryWriter."""

    def __init__(self, folder: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package
            raise ConfigError("--tensorboard needs the tensorboard package: pip install -r requirements.txt") from None
        self.folder = Path(folder)
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def step(self, number: int, loss: float, lr: float) -> None:
        """One training step: its mean loss and the learning rate it used."""
        if math.isfinite(loss):
            self.writer.add_scalar("step/loss", loss, number)
        self.writer.add_scalar("step/lr", lr, number)

    def epoch(self, record: dict) -> None:
        """One epoch's record: every number in it but the epoch, timings and flags."""
        for key, value in record.items():
            if key not in NOT_PLOTTED and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"epoch/{key}", value, record["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


_active: TensorBoardLog | None = None


@contextlib.contextmanager
def monitoring(folder: str | None, run_name: str | None) -> Iterator[TensorBoardLog | None]:
    """Within this block, the epoch loop writes to TensorBoard in ``folder/run_name`` (nothing when ``folder`` or
    ``run_name`` is None: no --tensorboard, or a torchrun process other than rank 0)."""
    global _active
    if folder is None or run_name is None:
        yield None
        return
    log = TensorBoardLog(Path(folder) / run_name)
    _active = log
    try:
        yield log
    finally:
        _active = None
        log.close()


def active_log() -> TensorBoardLog | None:
    """The TensorBoard log `monitoring` opened, if any."""
    return _active
