"""What the classifier minimises in training: the labels' cross-entropy, optionally with label smoothing, a teacher's
probabilities mixed into the targets (`train.classify.distill`), and an adversarial term on the embedded tokens.

Adversarial training (Goodfellow et al. 2015; on text, Miyato, Dai & Goodfellow 2017): after the clean loss's backward
pass, each text's embedded tokens are pushed a distance ``adversarial`` (L2 norm over the whole text) in the direction
of the loss gradient, the steepest first-order rise of the loss, and the loss at that point is added to the clean one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Objective:
    """The training loss of a batch. ``soft_targets`` ``[N, C]`` (teacher probabilities per training row, indexed by a
    batch's row indices) are mixed into the targets with weight ``distill_weight``; ``label_smoothing`` spreads that
    share of each hard target evenly over the classes (for a multi-label run, over yes and no); ``adversarial`` is the
    norm of each text's adversarial perturbation (0: none)."""

    multi_label: bool = False
    label_smoothing: float = 0.0
    soft_targets: torch.Tensor | None = None
    distill_weight: float = 0.0
    adversarial: float = 0.0

    def __post_init__(self) -> None:
        self.hard_loss = nn.BCEWithLogitsLoss(reduction="sum") if self.multi_label else nn.CrossEntropyLoss(reduction="sum")

    def targets(self, labels: torch.Tensor, index: torch.Tensor, num_classes: int) -> torch.Tensor | None:
        """The target probabilities ``[B, C]`` of a batch's rows, or None when they are the hard labels themselves."""
        if not self.label_smoothing and self.soft_targets is None:
            return None
        hard = labels.float() if self.multi_label else F.one_hot(labels, num_classes).float()
        spread = 0.5 if self.multi_label else 1.0 / num_classes
        targets = hard * (1 - self.label_smoothing) + self.label_smoothing * spread
        if self.soft_targets is not None:
            targets = (1 - self.distill_weight) * targets + self.distill_weight * self.soft_targets[index].to(targets.device)
        return targets

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The summed loss of a batch's rows (row indices ``index`` into the training split)."""
        targets = self.targets(labels, index, logits.size(1))
        if targets is None:
            return self.hard_loss(logits, labels)
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        return -(targets * F.log_softmax(logits, dim=1)).sum()

    def perturbation(self, gradient: torch.Tensor) -> torch.Tensor:
        """The adversarial perturbation ``[B, T, D]`` for the loss gradient with respect to the embedded tokens: per
        text, ``adversarial`` times the gradient's direction (a text whose gradient is zero is left where it is)."""
        norms = gradient.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, 1, 1)
        return (self.adversarial * gradient / norms).detach()
