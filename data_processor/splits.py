"""Reproducible, per-class (stratified) splits of labelled examples."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence, TypeVar

T = TypeVar("T")


def stratified_split(items: Sequence[T], labels: Sequence[str], fractions: Sequence[float], seed: int) -> list[list[T]]:
    """Split ``items`` into ``len(fractions)`` parts, each class divided in the given fractions.

    Within each class the items are shuffled with ``seed``; part ``k`` takes
    the next ``round(fraction_k * n)`` of them (the last part takes the rest).
    The order of items inside each part follows the original order.
    """
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {sum(fractions)}")
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    parts: list[list[int]] = [[] for _ in fractions]
    rng = random.Random(seed)
    for label in sorted(by_class):
        idx = by_class[label]
        rng.shuffle(idx)
        start = 0
        for k, frac in enumerate(fractions):
            end = len(idx) if k == len(fractions) - 1 else start + round(frac * len(idx))
            parts[k].extend(idx[start:end])
            start = end
    return [[items[i] for i in sorted(part)] for part in parts]
