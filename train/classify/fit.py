"""Fit and evaluate a classifier on batches, through the shared epoch loop: clipping, early stopping, the best weights kept."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from data_processor.batching import Batch, BucketBatcher
from data_processor.base.messages import Log, log_stderr
from train.classify.multilabel import choose
from train.classify.network import predict_proba
from train.classify.objective import Objective
from train.common.distributed import SINGLE, Cluster
from train.common.loop import run_epochs


@dataclass
class FitResult:
    """Per-epoch records and the epoch whose model scored best on the dev set."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")  # of the monitored dev metric: accuracy, or micro-F1 for multi-label data
    monitor: str = "dev_accuracy"
    best_state: dict[str, torch.Tensor] | None = None
    out_of_time: bool = False  # the time budget ended training


def planned_epochs(batches_per_pass: int, epochs: int, min_steps: int) -> int:
    """Epochs to plan for: ``epochs``, or more when ``epochs`` passes over the training batches would make fewer than
    ``min_steps`` optimizer steps (so a small training set is not left undertrained; early stopping ends it)."""
    return max(epochs, math.ceil(min_steps / max(batches_per_pass, 1)))


def training_plan(rows: int, batch_size: int, epochs: int, min_steps: int, schedule: str, lr: float, patience: int) -> dict:
    """What training will do with ``rows`` training rows, as plain values: batches per epoch, the epochs planned (see
    `planned_epochs`), the steps they make, and the schedule, learning rate and early stopping."""
    batches = math.ceil(rows / batch_size)
    planned = planned_epochs(batches, epochs, min_steps)
    return {"train_rows": rows, "batch_size": batch_size, "batches_per_epoch": batches, "epochs": planned, "steps": planned * batches,
            "epochs_asked": epochs, "min_steps": min_steps, "schedule": schedule, "lr": lr, "patience": patience}


def describe_plan(plan: dict) -> str:
    """The plan of `training_plan` as one line, saying why when it trains more epochs than asked."""
    def count(n: int, noun: str, plural: str = "") -> str:
        return f"{n} {noun if n == 1 else plural or noun + 's'}"

    line = (f"plan: up to {count(plan['epochs'], 'epoch')} of {count(plan['batches_per_epoch'], 'batch', 'batches')} of {plan['batch_size']} rows "
            f"({count(plan['steps'], 'step')}), lr {plan['lr']:g} with the {plan['schedule']} schedule")
    line += f", early stop after {count(plan['patience'], 'epoch')} without a better dev score" if plan["patience"] else ", no early stop"
    if plan["epochs"] > plan["epochs_asked"]:
        line += (f"; a small training set: {plan['epochs']} epochs rather than {plan['epochs_asked']}, to make --min-steps "
                 f"{plan['min_steps']} steps (an explicit --epochs without --min-steps trains exactly that many)")
    return line


class ClassifierTrainer:
    """One step of the training `Objective` per batch (cross-entropy, with any label smoothing, teacher targets and
    adversarial term; gradient-norm clipping), dev loss and accuracy, and the learning-rate schedule stepped after
    each epoch: an `EpochTrainer`. The reported training loss is the clean term's. A multi-label model (``model.multi_label``) learns with
    binary cross-entropy per label instead, and is monitored by its dev micro-F1 (labels chosen at probability 0.5;
    the thresholds are tuned once training ends).

    With a distributed ``cluster`` the model trains inside `DistributedDataParallel` on this process's share of each
    batch; each share's summed loss is scaled by ``world / rows in the whole batch``, so the averaged gradient is
    exactly the gradient of the mean loss over the whole batch, however unevenly it was shared.
    """

    unit = "batch"

    def __init__(self, model: nn.Module, train_batches: BucketBatcher, dev_batches: BucketBatcher, optimizer: torch.optim.Optimizer,
                 device: torch.device, clip: float | None, scheduler=None, cluster: Cluster = SINGLE,
                 objective: Objective | None = None) -> None:
        self.model, self.train_batches, self.dev_batches = model, train_batches, dev_batches
        self.optimizer, self.device, self.clip, self.scheduler, self.cluster = optimizer, device, clip, scheduler, cluster
        self.parallel = cluster.wrap(model, device)
        self.multi_label = bool(getattr(model, "multi_label", False))
        self.objective = objective or Objective(self.multi_label)
        self.monitor = "dev_micro_f1" if self.multi_label else "dev_accuracy"
        self.dev_labels = dev_batches.labels.numpy()

    def epoch_steps(self, epoch: int) -> tuple[Iterable[Batch], int]:
        self.model.train()
        return self.train_batches, len(self.train_batches)  # type: ignore[arg-type]

    def train_step(self, batch: Batch) -> dict[str, float]:
        batch = batch.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        empty = not len(batch.index)  # a share of a batch smaller than the world: still part of the gradient exchange
        tokens, lengths = (torch.full((1, 1), 1, device=self.device), torch.ones(1, dtype=torch.long)) if empty else (batch.tokens, batch.lengths)
        scale = self.cluster.world / batch.total if self.cluster.distributed else 1 / max(len(batch.index), 1)
        adversarial = self.objective.adversarial > 0
        noise = torch.zeros(*tokens.shape, self.model.encoder.embedding.embedding_dim, device=self.device,
                            requires_grad=True) if adversarial else None
        logits = self.parallel(tokens, lengths, noise)
        loss = logits.sum() * 0 if empty else self.objective.loss(logits, batch.labels, batch.index)
        (loss * scale).backward()
        if adversarial:  # the loss again at the embedded tokens pushed along its gradient; both terms' gradients add up
            assert noise is not None and noise.grad is not None
            pushed = self.parallel(tokens, lengths, self.objective.perturbation(noise.grad))
            ((pushed.sum() * 0 if empty else self.objective.loss(pushed, batch.labels, batch.index)) * scale).backward()
        if self.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        if getattr(self.scheduler, "per_step", False):
            self.scheduler.step()
        if empty:
            return {"loss": 0.0, "correct": 0, "count": 0}
        return {"loss": loss.item(), "correct": self._correct(logits.detach(), batch.labels), "count": len(batch.labels)}

    def _correct(self, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """Rows predicted right: the class, or (multi-label) exactly the label set, at probability 0.5."""
        if not self.multi_label:
            return int((logits.argmax(1) == labels).sum())
        chosen = torch.from_numpy(choose(logits.float().cpu().numpy(), np.zeros(logits.size(1))))
        return int((chosen == (labels.cpu() > 0.5)).all(1).sum())

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        seen = max(sums.get("count", 0), 1)
        return {"train_loss": round(sums.get("loss", 0.0) / seen, 6), "train_accuracy": round(sums.get("correct", 0) / seen, 6)}

    def validate(self) -> dict[str, float]:
        probs = predict_proba(self.model, self.dev_batches, self.device, self.cluster)
        labels = self.dev_labels
        if self.multi_label:
            p = np.clip(probs, 1e-12, 1 - 1e-7)
            loss = float(-(labels * np.log(p) + (1 - labels) * np.log1p(-p)).sum(1).mean())
            chosen = choose(probs, np.full(probs.shape[1], 0.5))
            true = labels > 0.5
            tp = float(np.logical_and(chosen, true).sum())
            return {"dev_loss": round(loss, 6), "dev_accuracy": round(float((chosen == true).all(1).mean()), 6),
                    "dev_micro_f1": round(2 * tp / max(float(chosen.sum() + true.sum()), 1.0), 6)}
        accuracy = float((probs.argmax(1) == labels).mean())
        loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())
        return {"dev_loss": round(loss, 6), "dev_accuracy": round(accuracy, 6)}

    def describe(self, r: dict) -> str:
        line = f"train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f}  dev loss {r['dev_loss']:.4f} acc {r['dev_accuracy']:.4f}"
        return line + (f" micro-F1 {r['dev_micro_f1']:.4f}" if "dev_micro_f1" in r else "")

    def learning_rate(self) -> float:
        return self.optimizer.param_groups[-1]["lr"]  # the head's, with discriminative rates

    def step_schedule(self, record: dict) -> None:
        """Step the learning-rate schedule after an epoch (a plateau schedule watches dev accuracy; a per-step schedule
        was stepped after every batch)."""
        if getattr(self.scheduler, "per_step", False):
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(record[self.monitor])
        elif self.scheduler is not None:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
                "batches": self.train_batches.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.train_batches.load_state_dict(state["batches"])


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
    time_budget_s: float | None = None,
    scheduler=None,
    on_epoch: Callable[[dict], None] | None = None,
    on_best: Callable[[dict[str, torch.Tensor]], None] | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    best_state: dict[str, torch.Tensor] | None = None,
    progress: bool = True,
    log: Log = log_stderr,
    cluster: Cluster = SINGLE,
    objective: Objective | None = None,
) -> FitResult:
    """Train for up to ``epochs``, keeping the state with the best dev accuracy (micro-F1 for a multi-label model).

    Stops early when it has not improved for ``patience`` epochs, or during the epoch in which ``time_budget_s``
    seconds of training run out (that epoch is scored, and kept if best).
    ``on_epoch`` receives each epoch's record (after the best state is updated),
    ``on_best`` each new best state, ``checkpoint`` the resumable state after each
    epoch. ``resume`` (such a state) goes on from where it was taken, with
    ``best_state`` the best weights up to then. With a distributed ``cluster``
    (and sharded batches) the processes train together; every process keeps
    the best weights, and only rank 0 should be given callbacks that write.
    """
    result = FitResult()
    if resume is not None:
        loop = resume["loop"]
        result.best_epoch, result.best_score, result.best_state = loop["best_epoch"], loop["best_score"], best_state

    def keep(record: dict, improved: bool) -> None:
        if improved:
            result.best_epoch, result.best_score = record["epoch"], record[trainer.monitor]
            result.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            if on_best is not None:
                on_best(result.best_state)
        if on_epoch is not None:
            on_epoch(record)

    trainer = ClassifierTrainer(model, train_batches, dev_batches, optimizer, device, clip, scheduler, cluster, objective)
    result.monitor = trainer.monitor
    loop = run_epochs(trainer, epochs, monitor=trainer.monitor, higher_is_better=True, patience=patience,
                      time_budget_s=time_budget_s, on_epoch=keep,
                      after_epoch=trainer.step_schedule, checkpoint=checkpoint, resume=resume, progress=progress, log=log,
                      cluster=cluster)
    result.history, result.out_of_time = loop.history, loop.out_of_time
    return result
