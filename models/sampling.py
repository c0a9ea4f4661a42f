"""Turning next-character logits into a choice: temperature, top-k, forbidden ids, greedy."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def next_distribution(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, forbidden: Sequence[int] = ()) -> np.ndarray:
    """Probabilities ``softmax((logits - max) / temperature)`` over the ``top_k`` best ids (0: all).

    ``forbidden`` ids (e.g. ``<unk>``) get probability zero. Lower temperatures
    sharpen the distribution, higher ones flatten it. Ties at the k-th value
    are all kept.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.array(logits, dtype=np.float64)
    z[list(forbidden)] = -np.inf
    z = (z - z.max()) / temperature
    if 0 < top_k < len(z):
        kth = np.partition(z, -top_k)[-top_k]
        z[z < kth] = -np.inf
    p = np.exp(z)
    return p / p.sum()


def sample_id(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0, forbidden: Sequence[int] = ()) -> int:
    """One id drawn from `next_distribution`."""
    p = next_distribution(logits, temperature, top_k, forbidden)
    return int(rng.choice(len(p), p=p))


def greedy_id(logits: np.ndarray, forbidden: Sequence[int] = ()) -> int:
    """The most probable id that is not forbidden."""
    z = np.array(logits, dtype=np.float64)
    z[list(forbidden)] = -np.inf
    return int(z.argmax())
