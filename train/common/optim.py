"""Optimizer and learning-rate schedule factories, shared by every trainer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable

from data_processor.base.errors import ConfigError

if TYPE_CHECKING:
    import torch

# A sensible learning rate for each optimizer, used when --lr is not given.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 2e-3, "adamw": 2e-3, "adagrad": 0.05, "rmsprop": 1e-3}
OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULES = ("none", "step", "cosine", "plateau", "slanted")
PER_STEP_SCHEDULES = ("none", "cosine", "slanted")  # the shapes a per-batch schedule (fine-tuning an encoder) can take
CUT_FRACTION, RATIO = 0.1, 32  # slanted triangular rates: rise over the first 10% of steps, from lr/32 to lr, then fall back


def learning_rate(name: str, lr: float | None) -> float:
    """``lr``, or optimizer ``name``'s default rate when it is None: the one place a missing --lr is filled in."""
    if name not in DEFAULT_LR:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return DEFAULT_LR[name] if lr is None else lr


def build_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """Create optimizer ``name`` (``sgd|momentum|adam|adamw|adagrad|rmsprop``) over the trainable ``params``."""
    import torch  # here, not at the top: settings and --help read this module's names without paying for torch

    lr = learning_rate(name, lr)
    if lr <= 0:
        raise ConfigError(f"--lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ConfigError(f"--weight-decay must be >= 0, got {weight_decay}")
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.RMSprop(params, lr=lr, momentum=0.0, weight_decay=weight_decay)


def slanted_triangular(step: int, total: int) -> float:
    """The slanted triangular rate factor (Howard & Ruder 2018) at ``step`` of ``total``: a short linear rise from
    1/`RATIO`, then a long linear fall back to it."""
    cut = max(1, math.floor(total * CUT_FRACTION))
    p = step / cut if step < cut else 1 - (step - cut) / max(1, total - cut)
    return (1 + max(0.0, p) * (RATIO - 1)) / RATIO


def step_factor(name: str, step: int, total: int) -> float:
    """The learning-rate factor at batch ``step`` of ``total`` of the per-step schedule ``name`` (`PER_STEP_SCHEDULES`)."""
    if name == "slanted":
        return slanted_triangular(step, total)
    if name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))
    return 1.0


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int = 1):
    """A learning-rate schedule: ``none``, ``step`` (halve every third of the run), ``cosine`` (to zero over
    ``epochs``) or ``plateau`` (halve when validation accuracy stalls), stepped once per epoch; or ``slanted``
    (slanted triangular over ``epochs * steps_per_epoch`` batches), stepped after every batch (its ``per_step`` is True)."""
    import torch

    if name == "slanted":
        total = max(1, epochs * steps_per_epoch)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: slanted_triangular(step, total))
        scheduler.per_step = True  # type: ignore[attr-defined]
        return scheduler
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.5)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)
    raise ConfigError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
