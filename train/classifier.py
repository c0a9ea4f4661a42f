"""Fit and evaluate a classifier on batches: epochs, clipping, early stopping, progress."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from data_processor.batching import Batch, BucketBatcher


@dataclass
class FitResult:
    """Per-epoch records and the epoch whose model scored best on the dev set."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_accuracy: float = float("-inf")
    best_state: dict[str, torch.Tensor] | None = None


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer, device: torch.device, clip: float | None, progress: tqdm | None = None) -> tuple[float, float]:
    """One pass over ``batches``; returns (mean loss per example, accuracy)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total_loss, correct, seen = 0.0, 0, 0
    for batch in batches:
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch.tokens, batch.lengths)
        loss = loss_fn(logits, batch.labels)
        (loss / len(batch.labels)).backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total_loss += loss.item()
        correct += int((logits.argmax(1) == batch.labels).sum())
        seen += len(batch.labels)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    return total_loss / max(seen, 1), correct / max(seen, 1)


@torch.inference_mode()
def predict_proba(model: nn.Module, batches: BucketBatcher, device: torch.device) -> np.ndarray:
    """Class probabilities ``[N, C]`` for every row of ``batches``, in the rows' original order."""
    model.eval()
    out: np.ndarray | None = None
    for batch in batches:
        probs = torch.softmax(model(batch.tokens.to(device), batch.lengths).float(), dim=1).cpu().numpy()
        if out is None:
            out = np.zeros((len(batches.lengths), probs.shape[1]), dtype=np.float32)
        out[batch.index.numpy()] = probs
    assert out is not None, "no rows to predict"
    return out


def fit(
    model: nn.Module,
    train_batches: BucketBatcher,
    dev_batches: BucketBatcher,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    device: torch.device,
    clip: float | None = 5.0,
    patience: int | None = 3,
    scheduler=None,
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> FitResult:
    """Train for up to ``epochs``, keeping the state with the best dev accuracy.

    Stops early when dev accuracy has not improved for ``patience`` epochs.
    ``on_epoch`` receives each epoch's record (after the best state is updated).
    """
    result = FitResult()
    dev_labels = dev_batches.labels.numpy()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        bar = tqdm(total=len(train_batches), desc=f"epoch {epoch}/{epochs}", unit="batch", file=sys.stderr, leave=False, disable=None if progress else True, mininterval=0.5)
        train_loss, train_acc = train_epoch(model, train_batches, optimizer, device, clip, bar)
        bar.close()
        probs = predict_proba(model, dev_batches, device)
        dev_acc = float((probs.argmax(1) == dev_labels).mean())
        dev_loss = float(-np.log(np.clip(probs[np.arange(len(dev_labels)), dev_labels], 1e-12, None)).mean())
        improved = dev_acc > result.best_dev_accuracy
        if improved:
            result.best_epoch, result.best_dev_accuracy = epoch, dev_acc
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "train_accuracy": round(train_acc, 6),
            "dev_loss": round(dev_loss, 6),
            "dev_accuracy": round(dev_acc, 6),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - start, 3),
        }
        result.history.append(record)
        log(
            f"epoch {epoch}/{epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
            f"dev loss {dev_loss:.4f} acc {dev_acc:.4f}{'  (best)' if improved else ''}  {record['seconds']:.1f}s"
        )
        if on_epoch is not None:
            on_epoch(record)
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(dev_acc)
            else:
                scheduler.step()
        if patience and epoch - result.best_epoch >= patience:
            log(f"early stop: no dev improvement for {patience} epochs")
            break
    return result
