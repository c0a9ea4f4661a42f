"""Fit a character model by truncated BPTT through the shared epoch loop: chunks, validation loss, time budget."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from data_processor.char_stream import (
    Chunk,
    consecutive_chunks,
    consecutive_steps,
    random_chunks,
    random_steps,
)
from data_processor.base.messages import Log, log_stderr
from train.charlm.trainers import LMTrainer
from train.common.distributed import SINGLE, Cluster
from train.common.loop import LoopResult, run_epochs
from train.common.resume import generator_state, set_generator_state


def lane_share(chunk: Chunk, cluster: Cluster) -> Chunk:
    """This process's lanes of a chunk read by all the processes: the rows cut into ``world`` near-equal consecutive parts
    (the same rows every chunk, so a lane's state carries on)."""
    if not cluster.distributed:
        return chunk
    inputs, targets = chunk
    sizes = [len(part) for part in np.array_split(np.arange(len(inputs)), cluster.world)]
    start = sum(sizes[: cluster.rank])
    return inputs[start : start + sizes[cluster.rank]], targets[start : start + sizes[cluster.rank]]


def evaluate(trainer: LMTrainer, ids: np.ndarray, batch: int, seq_len: int, cluster: Cluster = SINGLE) -> float:
    """Mean cross-entropy in nats per character over a stream, reading it in consecutive chunks with the state carried
    (with a distributed ``cluster``, each process reads its share of the lanes and the sums are added up)."""
    total, count, state = 0.0, 0, None
    for chunk in consecutive_chunks(ids, batch, seq_len):
        inputs, targets = lane_share(chunk, cluster)
        if not len(inputs):
            continue
        loss, state = trainer.eval_loss(inputs, targets, state)
        total += loss
        count += targets.size
    sums = cluster.sum({"total": total, "count": count})
    return sums["total"] / sums["count"]


class ChunkTrainer:
    """Chunks of a character stream as the steps of an epoch, validation loss per character: an `EpochTrainer`.

    ``consecutive`` chunking carries the hidden state from chunk to chunk
    (reset each epoch, whose lanes start at a random offset below
    ``seq_len``); ``random`` chunking starts every chunk from zeros. With a
    distributed ``cluster``, ``batch_size`` counts the lanes of all processes,
    which read the same chunks (same seed) and each learn from its share.
    """

    unit = "chunk"

    def __init__(self, trainer: LMTrainer, train_ids: np.ndarray, val_ids: np.ndarray, batch_size: int, seq_len: int,
                 chunking: str, seed: int, cluster: Cluster = SINGLE) -> None:
        self.trainer, self.train_ids, self.val_ids, self.cluster = trainer, train_ids, val_ids, cluster
        self.batch_size, self.seq_len, self.chunking = batch_size, seq_len, chunking
        self.rng = np.random.default_rng(seed)
        self.state: Any = None

    def epoch_steps(self, epoch: int) -> tuple[Iterable[tuple[np.ndarray, np.ndarray]], int]:
        ids, batch, seq_len = self.train_ids, self.batch_size, self.seq_len
        self.state = None
        if self.chunking == "consecutive":
            offset = int(self.rng.integers(0, seq_len)) if len(ids) > 2 * seq_len + 1 else 0
            return consecutive_chunks(ids, batch, seq_len, offset), consecutive_steps(len(ids), batch, seq_len, offset)
        return random_chunks(ids, batch, seq_len, self.rng), random_steps(len(ids), batch, seq_len)

    def train_step(self, chunk: Chunk) -> dict[str, float]:
        inputs, targets = lane_share(chunk, self.cluster)
        loss, self.state = self.trainer.train_step(inputs, targets, self.state if self.chunking == "consecutive" else None,
                                                   total=chunk[1].size)
        return {"loss": loss, "count": targets.size}

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        loss = sums["loss"] / sums["count"]
        return {"train_loss": round(loss, 6), "train_perplexity": round(math.exp(loss), 4), "chars": int(sums["count"])}

    def validate(self) -> dict[str, float]:
        loss = evaluate(self.trainer, self.val_ids, self.batch_size, self.seq_len, self.cluster)
        return {"val_loss": round(loss, 6), "val_perplexity": round(math.exp(loss), 4)}

    def describe(self, r: dict) -> str:
        return (f"train {r['train_loss']:.4f} nats/char (ppl {r['train_perplexity']:.2f})  "
                f"val {r['val_loss']:.4f} (ppl {r['val_perplexity']:.2f})")

    def learning_rate(self) -> float:
        return self.trainer.learning_rate()

    def state_dict(self) -> dict[str, Any]:
        return {"lm": self.trainer.state_dict(), "rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state["lm"])
        set_generator_state(self.rng, state["rng"])


def fit_language_model(
    trainer: LMTrainer,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seq_len: int,
    chunking: str = "consecutive",
    seed: int = 0,
    time_budget_s: float | None = None,
    on_epoch: Callable[[dict, bool], None] | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    progress: bool = True,
    log: Log = log_stderr,
    cluster: Cluster = SINGLE,
) -> LoopResult:
    """Train for ``epochs`` passes over ``train_ids`` (or until ``time_budget_s`` runs out), scoring ``val_ids`` after each.

    ``on_epoch(record, improved)`` runs after each epoch; an epoch cut short
    by the time budget is still scored and recorded, marked ``partial``.
    ``checkpoint`` receives the resumable state after each epoch, and ``resume``
    (such a state) goes on from it (see `run_epochs`).
    The result's ``best_score`` is the best validation loss in nats per character.
    With a distributed ``cluster``, ``batch_size`` is the lanes of all processes together.
    """
    chunks = ChunkTrainer(trainer, train_ids, val_ids, batch_size, seq_len, chunking, seed, cluster)
    return run_epochs(chunks, epochs, monitor="val_loss", higher_is_better=False, time_budget_s=time_budget_s, on_epoch=on_epoch,
                      checkpoint=checkpoint, resume=resume, progress=progress, log=log, cluster=cluster)
