"""Fit a character model by truncated BPTT: epochs over chunks, validation loss, time budget, progress."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm

from data_processor.char_stream import (
    consecutive_chunks,
    consecutive_steps,
    random_chunks,
    random_steps,
)
from train.lm_trainers import LMTrainer


@dataclass
class LMFitResult:
    """Per-epoch records, the best validation loss (nats per character) and whether the time budget ended the run."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    out_of_time: bool = False


def evaluate(trainer: LMTrainer, ids: np.ndarray, batch: int, seq_len: int) -> float:
    """Mean cross-entropy in nats per character over a stream, reading it in consecutive chunks with the state carried."""
    total, count, state = 0.0, 0, None
    for inputs, targets in consecutive_chunks(ids, batch, seq_len):
        loss, state = trainer.eval_loss(inputs, targets, state)
        total += loss
        count += targets.size
    return total / count


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
    progress: bool = True,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> LMFitResult:
    """Train for ``epochs`` passes over ``train_ids`` (or until ``time_budget_s`` runs out), scoring ``val_ids`` after each.

    ``consecutive`` chunking carries the hidden state from chunk to chunk
    (reset each epoch, whose lanes start at a random offset below
    ``seq_len``); ``random`` chunking starts every chunk from zeros.
    ``on_epoch(record, improved)`` runs after each epoch; an epoch cut short
    by the time budget is still scored and recorded, marked ``partial``.
    """
    rng = np.random.default_rng(seed)
    result = LMFitResult()
    started = time.perf_counter()
    deadline = started + time_budget_s if time_budget_s else math.inf
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        if chunking == "consecutive":
            offset = int(rng.integers(0, seq_len)) if len(train_ids) > 2 * seq_len + 1 else 0
            chunks, steps = consecutive_chunks(train_ids, batch_size, seq_len, offset), consecutive_steps(len(train_ids), batch_size, seq_len, offset)
        else:
            chunks, steps = random_chunks(train_ids, batch_size, seq_len, rng), random_steps(len(train_ids), batch_size, seq_len)
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="chunk", file=sys.stderr, leave=False, disable=None if progress else True, mininterval=0.5)
        total, chars, state = 0.0, 0, None
        for inputs, targets in chunks:
            loss, state = trainer.train_step(inputs, targets, state if chunking == "consecutive" else None)
            total += loss
            chars += targets.size
            bar.update(1)
            bar.set_postfix(loss=f"{total / chars:.3f}", refresh=False)
            if time.perf_counter() >= deadline:
                result.out_of_time = True
                break
        bar.close()
        train_loss = total / chars
        val_loss = evaluate(trainer, val_ids, batch_size, seq_len)
        improved = val_loss < result.best_val_loss
        if improved:
            result.best_epoch, result.best_val_loss = epoch, val_loss
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "train_perplexity": round(math.exp(train_loss), 4),
            "val_loss": round(val_loss, 6),
            "val_perplexity": round(math.exp(val_loss), 4),
            "chars": chars,
            "lr": trainer.learning_rate(),
            "seconds": round(time.perf_counter() - epoch_start, 3),
            "elapsed": round(time.perf_counter() - started, 3),
            "partial": result.out_of_time,
        }
        result.history.append(record)
        log(f"epoch {epoch}/{epochs}  train {train_loss:.4f} nats/char (ppl {math.exp(train_loss):.2f})  "
            f"val {val_loss:.4f} (ppl {math.exp(val_loss):.2f}){'  (best)' if improved else ''}  {record['seconds']:.1f}s"
            f"{'  (partial epoch)' if result.out_of_time else ''}")
        if on_epoch is not None:
            on_epoch(record, improved)
        if result.out_of_time or time.perf_counter() >= deadline:
            result.out_of_time = True
            log(f"time budget of {time_budget_s / 60:g} min reached after epoch {epoch}")
            break
    return result
