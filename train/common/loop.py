"""The epoch loop every trainer shares: train, validate, keep the best, stop early or on a time budget, log, record.

A trainer says how to do one step and how to score the validation data (an
`EpochTrainer`); `run_epochs` does the rest, the same way for the classifier
and the language models:

- one progress bar per epoch (tqdm on stderr) showing the running loss;
- after each epoch, validation, and a record ``{"epoch", train metrics,
  validation metrics, "lr", "seconds" (the epoch's), "train_seconds" (its training steps' alone),
  "elapsed", "partial"}``;
- "best" by one validation metric (higher or lower is better);
- ``on_epoch(record, improved)``, where the caller keeps or saves the best weights;
- early stopping after ``patience`` epochs without improvement, and a time
  budget that cuts the current epoch (which is still scored, marked ``partial``);
- one log line per epoch;
- with ``--tensorboard``, each step's loss and learning rate and each
  epoch's record written to TensorBoard (`train.common.monitor`);
- torch's thread count following the cores other programs leave free, when
  the run did not fix it (`train.common.core_share`);
- with ``checkpoint``, after each epoch a resumable state (see
  `train.common.resume`): given back as ``resume``, the loop goes on from
  the next epoch exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from tqdm import tqdm

from data_processor.base.errors import TrainingError
from data_processor.base.messages import Log, log_stderr
from train.common.core_share import follow_free_cores
from train.common.distributed import SINGLE, Cluster
from train.common.monitor import active_log
from train.common.resume import restore_rng_states, rng_states


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

    def state_dict(self) -> dict[str, Any]:
        """Everything the trainer changes as it trains (weights, optimizer, generators), for a resumable checkpoint."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a state taken by `state_dict`."""
        ...


@dataclass
class LoopResult:
    """Per-epoch records, the best epoch and its score, and how the loop ended."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.nan
    out_of_time: bool = False
    stopped_early: bool = False
    elapsed: float = 0.0  # seconds of training so far, across resumed sessions
    first_loss: float | None = None  # the mean training loss of the first epoch: what a diverging loss is measured against

    @property
    def finished(self) -> bool:
        """Whether the loop ended before its last epoch (early stop or time budget)."""
        return self.out_of_time or self.stopped_early

    def state(self) -> dict[str, Any]:
        """The loop's progress as plain values, for a checkpoint."""
        return {"history": self.history, "best_epoch": self.best_epoch, "best_score": self.best_score,
                "out_of_time": self.out_of_time, "stopped_early": self.stopped_early, "elapsed": self.elapsed,
                "first_loss": self.first_loss}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "LoopResult":
        """The progress saved by `state`."""
        return cls(list(state["history"]), int(state["best_epoch"]), float(state["best_score"]), bool(state["out_of_time"]),
                   bool(state["stopped_early"]), float(state["elapsed"]), state.get("first_loss"))


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
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    progress: bool = True,
    log: Log = log_stderr,
    cluster: Cluster = SINGLE,
) -> LoopResult:
    """Train for up to ``epochs``; the best epoch is the one whose record has the best ``monitor`` value.

    After each epoch, ``after_epoch(record)`` runs (a learning-rate schedule steps
    there), then ``checkpoint(state)`` with the resumable state (``{"loop", "trainer",
    "rng"}``), then ``on_epoch(record, improved)``, where the caller records the epoch
    and keeps the best weights. ``resume`` (such a state)
    goes on after the epoch it was taken at. ``patience`` (None or 0: never) stops after
    that many epochs without improvement; ``time_budget_s`` (counting the time of earlier
    sessions of a resumed run) stops during the epoch in which it runs out.

    With a distributed ``cluster`` every process runs the loop on its share of
    the data: the step sums are added up over the processes, rank 0's record
    (and its clock) decides keep-best, early stop and the time budget for all,
    and only rank 0 calls ``checkpoint`` (with every process's generators) and
    should be given a ``log`` that writes and ``progress``.
    """
    result = LoopResult()
    if resume is not None:
        result = LoopResult.from_state(resume["loop"])
        trainer.load_state_dict(resume["trainer"])
        restore_rng_states(resume["rng"]["ranks"][cluster.rank] if "ranks" in resume["rng"] else resume["rng"])
        log(f"resumed after epoch {len(result.history)} of {epochs} (best so far: epoch {result.best_epoch})")
        if result.finished:
            return result
    started = time.perf_counter() - result.elapsed
    deadline = started + time_budget_s if time_budget_s else math.inf
    for epoch in range(len(result.history) + 1, epochs + 1):
        epoch_start = time.perf_counter()
        steps, total = trainer.epoch_steps(epoch)
        bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit=trainer.unit, file=sys.stderr, leave=False,
                   disable=None if progress else True, mininterval=0.5)
        sums: dict[str, float] = {}
        board = active_log()
        for number, step in enumerate(steps, start=1):
            note = follow_free_cores()  # before the step, so even the first runs on the cores that are free
            if note:
                bar.clear()
                log(f"note: {note}")
                bar.refresh()
            done = trainer.train_step(step)
            check_loss(done, sums, result.first_loss, f"epoch {epoch}, {trainer.unit} {number}", result.best_epoch)
            sums = {key: sums.get(key, 0) + value for key, value in done.items()}
            if board is not None:
                board.step((epoch - 1) * total + number, done["loss"] / max(done["count"], 1), trainer.learning_rate())
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / max(sums['count'], 1):.4f}", refresh=False)
            if deadline < math.inf and cluster.any(time.perf_counter() >= deadline):  # every process stops at the same step
                result.out_of_time = True
                break
        bar.close()
        if result.first_loss is None and sums.get("count"):
            result.first_loss = sums["loss"] / sums["count"]
        train_seconds = time.perf_counter() - epoch_start
        record = {"epoch": epoch, **trainer.train_metrics(cluster.sum(sums)), **trainer.validate(), "lr": trainer.learning_rate()}
        now = time.perf_counter()
        result.elapsed = now - started
        record.update(seconds=round(now - epoch_start, 3), train_seconds=round(train_seconds, 3), elapsed=round(result.elapsed, 3),
                      partial=result.out_of_time)
        record, over_time = cluster.broadcast((record, result.out_of_time or now >= deadline))  # rank 0 decides for all
        score = record[monitor]
        improved = result.best_epoch == 0 or (score > result.best_score if higher_is_better else score < result.best_score)
        if improved:
            result.best_epoch, result.best_score = epoch, score
        result.history.append(record)
        if board is not None:
            board.epoch(record)
        log(f"epoch {epoch}/{epochs}  {trainer.describe(record)}{'  (best)' if improved else ''}  {record['seconds']:.1f}s"
            f"{'  (partial epoch)' if result.out_of_time else ''}")
        if after_epoch is not None:
            after_epoch(record)
        if over_time:
            result.out_of_time = True
            log(f"time budget of {time_budget_s / 60:g} min reached after epoch {epoch}")  # type: ignore[operator]
        elif patience and epoch - result.best_epoch >= patience:
            result.stopped_early = True
            log(f"early stop: no dev improvement for {patience} epochs")
        if checkpoint is not None:  # before on_epoch, so saved best weights are never ahead of the checkpoint
            rng = rng_states() if not cluster.distributed else {"ranks": cluster.gather(rng_states())}
            if cluster.is_main:
                checkpoint({"loop": result.state(), "trainer": trainer.state_dict(), "rng": rng})
        if on_epoch is not None:
            on_epoch(record, improved)
        if result.finished:
            break
    return result


EXPLOSION = 100  # a step whose mean loss is this many times the first epoch's has diverged


def check_loss(step: dict[str, float], sums: dict[str, float], first_loss: float | None, where: str, best_epoch: int) -> None:
    """A `TrainingError` when a step's loss shows that training diverged: it is not a finite number, or its mean over
    the step's examples is over `EXPLOSION` times the first epoch's mean loss (``first_loss``; during the first epoch,
    the mean of its steps so far, ``sums``)."""
    count = max(step.get("count", 1), 1)
    reference = first_loss if first_loss is not None else sums["loss"] / sums["count"] if sums.get("count") else None
    exploded = reference is not None and reference > 0 and step["loss"] / count > EXPLOSION * reference
    if math.isfinite(step["loss"]) and not exploded:
        return
    kept = f"; the weights of the best epoch so far ({best_epoch}) are kept" if best_epoch else ""
    value = step["loss"] if not math.isfinite(step["loss"]) else f"{step['loss'] / count:.4g} (over {EXPLOSION}x the first epoch's {reference:.4g})"
    raise TrainingError(f"{where}: the training loss became {value}; lower --lr, or clip gradients (--clip){kept}")
