"""Train an `EncoderLM` on batches of texts through the shared epoch loop: sampled softmax, a cosine-decayed learning
rate over the planned steps, held-out perplexity per direction with the full softmax. Used by ``run.py pretrain`` and
by the classifier's task-LM fine-tuning."""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable

import torch
from torch import nn

from data_processor.batching import Batch, BucketBatcher
from data_processor.base.messages import Log, log_stderr
from models.language_model import EncoderLM
from train.common.loop import LoopResult, run_epochs

WARMUP = 0.05  # share of the planned steps over which the learning rate rises linearly from zero


def vocabulary_counts(vocab_counts: dict[str, int], itos: list[str]) -> torch.Tensor:
    """One count per vocabulary entry (1 for an entry without a count: specials, tokens added later)."""
    return torch.tensor([max(int(vocab_counts.get(token, 1)), 1) for token in itos], dtype=torch.float64)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A learning rate rising linearly over the first `WARMUP` of ``total_steps``, then decaying along a cosine to zero;
    stepped after every batch."""
    warmup = max(1, int(WARMUP * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.inference_mode()
def heldout_metrics(model: EncoderLM, batches: BucketBatcher, device: torch.device) -> dict[str, float]:
    """Full-softmax loss (nats per token) and perplexity per direction on ``batches``, and their mean as ``dev_loss``."""
    model.eval()
    sums = [[0.0, 0] for _ in model.project]
    for batch in batches:
        for total, (nll, count) in zip(sums, model.exact_nll(batch.tokens.to(device), batch.lengths)):
            total[0] += nll
            total[1] += count
    names = ("forward", "backward")
    record: dict[str, float] = {}
    for name, (nll, count) in zip(names, sums):
        loss = nll / max(count, 1)
        record[f"dev_{name}_loss"] = round(loss, 6)
        record[f"dev_{name}_perplexity"] = round(math.exp(min(loss, 50.0)), 3)
    record["dev_loss"] = round(sum(record[f"dev_{name}_loss"] for name in names[:len(sums)]) / len(sums), 6)
    return record


class LMTrainer:
    """One sampled-softmax step per batch, the learning rate stepped per batch, held-out perplexity per epoch: an
    `EpochTrainer`. ``max_steps`` (0: none) caps the batches over all epochs."""

    unit = "batch"

    def __init__(self, model: EncoderLM, train_batches: BucketBatcher, heldout: BucketBatcher, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device, clip: float, max_steps: int = 0) -> None:
        self.model, self.train_batches, self.heldout = model, train_batches, heldout
        self.optimizer, self.scheduler, self.device, self.clip, self.max_steps = optimizer, scheduler, device, clip, max_steps
        self.steps = 0

    def epoch_steps(self, epoch: int) -> tuple[Iterable[Batch], int]:
        self.model.train()
        total = len(self.train_batches)
        if self.max_steps:
            total = max(0, min(total, self.max_steps - self.steps))
        return itertools.islice(self.train_batches, total), total

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, count = self.model.sampled_loss(batch.tokens.to(self.device), batch.lengths)
        if count:
            (loss / count).backward()
            if self.clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()
        self.scheduler.step()
        self.steps += 1
        return {"loss": float(loss.detach()), "count": count}

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        loss = sums.get("loss", 0.0) / max(sums.get("count", 0), 1)
        return {"train_loss": round(loss, 6), "steps": self.steps}

    def validate(self) -> dict[str, float]:
        return heldout_metrics(self.model, self.heldout, self.device)

    def describe(self, r: dict) -> str:
        line = f"train loss {r['train_loss']:.4f} (sampled)  held-out perplexity forward {r['dev_forward_perplexity']:.1f}"
        return line + (f" backward {r['dev_backward_perplexity']:.1f}" if "dev_backward_perplexity" in r else "")

    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "batches": self.train_batches.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.train_batches.load_state_dict(state["batches"])
        self.steps = int(state["steps"])


def planned_steps(batches: int, epochs: int, max_steps: int) -> int:
    """How many batches a language model will train on: ``epochs`` passes, capped by ``max_steps`` (0: no cap)."""
    total = batches * epochs
    return min(total, max_steps) if max_steps else total


def fit_lm(model: EncoderLM, train_batches: BucketBatcher, heldout: BucketBatcher, *, lr: float, epochs: int, max_steps: int,
           clip: float, device: torch.device, time_budget_s: float | None = None,
           on_epoch: Callable[[dict, bool], None] | None = None, checkpoint: Callable[[dict], None] | None = None,
           resume: dict | None = None, progress: bool = True, log: Log = log_stderr) -> tuple[LoopResult, LMTrainer]:
    """Train ``model`` with Adam at ``lr`` (warmed up, then cosine-decayed over the planned steps); the best epoch is the
    one with the lowest held-out loss. Returns the loop's result and the trainer (whose model holds the last weights)."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    steps = planned_steps(len(train_batches), epochs, max_steps)
    scheduler = warmup_cosine(optimizer, steps)
    trainer = LMTrainer(model, train_batches, heldout, optimizer, scheduler, device, clip, max_steps)
    epochs_needed = max(1, min(epochs, math.ceil(steps / max(len(train_batches), 1))))
    result = run_epochs(trainer, epochs_needed, monitor="dev_loss", higher_is_better=False, time_budget_s=time_budget_s,
                        on_epoch=on_epoch, checkpoint=checkpoint, resume=resume, progress=progress, log=log)
    return result, trainer
