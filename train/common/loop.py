"""The epoch loop every trainer shares: train, validate, keep the best, stop early or on a time budget, log, record.

A trainer says how to do one step and how to score the validation data (an
`EpochTrainer`); `run_epochs` does the rest, the same way for the classifier
and the language models:

- one progress bar per epoch (tqdm on stderr) showing the running loss;
- after each epoch, validation, and a record ``{"epoch", train metrics,
  validation metrics, "lr", "seconds", "elapsed", "partial"}``;
- "best" by one validation metric (higher or lower is better);
- ``on_epoch(record, improved)``, where the caller keeps or saves the best weights;
- early stopping after ``patience`` epochs without improvement, and a time
  budget that cuts the current epoch (which is still scored, marked ``partial``);
- one log line per epoch.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from tqdm import tqdm

from data_processor.messages import Log, log_stderr


class EpochTrainer(Protocol):
    """What `run_epochs` needs from a model's trainer."""

    unit: str  # what one step is called on the progress bar ("batch", "chunk")

    def epoch_steps(self, epoch: int) -> tuple[Iterable[Any], int]:
        """The steps of ``epoch`` (batches, chunks) and how many there are."""
        ...

    def train_step(self, step: Any) -> dict[str, float]:
        """Learn from one step; sums to add up over the epoch, with at least ``loss`` (summed) and ``count`` (examples)."""
        ...

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """The epoch's training metrics from the summed step results."""
        ...

    def validate(self) -> dict[str, float]:
        """Validation metrics of the model as it is now."""
        ...

    def describe(self, record: dict) -> str:
        """The metrics part of the epoch's log line."""
        ...

    def learning_rate(self) -> float:
        """The current learning rate, for the record."""
        ...


@dataclass
class LoopResult:
    """Per-epoch records, the best epoch and its score, and how the loop ended."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.nan
    out_of_time: bool = False
    stopped_early: bool = False


def run_epochs(
    trainer: EpochTrainer,
    epochs: int,
    *,
    monitor: str,
    higher_is_better: bool,
    patience: int | None = None,
    time_budget_s: float | None = None,
    on_epoch: Callable[[dict, bool], None] | None = None,
    after_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
    log: Log = log_stderr,
) -> LoopResult:
    """Train for up to ``epochs``; the best epoch is the one whose record has the best ``monitor`` value.

    ``on_epoch(record, improved)`` runs after each epoch, ``after_epoch(record)``
    after that (a learning-rate schedule steps there). ``patience`` (None or 0:
    never) stops after that many epochs without improvement; ``time_budget_s``
    stops during the epoch in which it runs out.
    """
    result = LoopResult()
    started = time.perf_counter()
    deadline = started + time_budget_s if time_budget_s else math.inf
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        steps, total = trainer.epoch_steps(epoch)
        bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit=trainer.unit, file=sys.stderr, leave=False,
                   disable=None if progress else True, mininterval=0.5)
        sums: dict[str, float] = {}
        for step in steps:
            for key, value in trainer.train_step(step).items():
                sums[key] = sums.get(key, 0) + value
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / max(sums['count'], 1):.4f}", refresh=False)
            if time.perf_counter() >= deadline:
                result.out_of_time = True
                break
        bar.close()
        record = {"epoch": epoch, **trainer.train_metrics(sums), **trainer.validate(), "lr": trainer.learning_rate()}
        score = record[monitor]
        improved = result.best_epoch == 0 or (score > result.best_score if higher_is_better else score < result.best_score)
        if improved:
            result.best_epoch, result.best_score = epoch, score
        now = time.perf_counter()
        record.update(seconds=round(now - epoch_start, 3), elapsed=round(now - started, 3), partial=result.out_of_time)
        result.history.append(record)
        log(f"epoch {epoch}/{epochs}  {trainer.describe(record)}{'  (best)' if improved else ''}  {record['seconds']:.1f}s"
            f"{'  (partial epoch)' if result.out_of_time else ''}")
        if on_epoch is not None:
            on_epoch(record, improved)
        if after_epoch is not None:
            after_epoch(record)
        if result.out_of_time or now >= deadline:
            result.out_of_time = True
            log(f"time budget of {time_budget_s / 60:g} min reached after epoch {epoch}")  # type: ignore[operator]
            break
        if patience and epoch - result.best_epoch >= patience:
            result.stopped_early = True
            log(f"early stop: no dev improvement for {patience} epochs")
            break
    return result
