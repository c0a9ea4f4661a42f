"""Reproducible, per-class (stratified) splits of labelled examples."""

from __future__ import annotations

import random
from array import array
from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def stratified_split(items: Sequence[T], labels: Sequence[str], fractions: Sequence[float], seed: int) -> list[list[T]]:
    """Split ``items`` into ``len(fractions)`` parts, each class divided in the given fractions (see `stratified_indices`)."""
    names = sorted(set(labels))
    code = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((code[label] for label in labels), dtype=np.int64, count=len(labels))
    return [[items[i] for i in part.tolist()] for part in stratified_indices(codes, fractions, seed)]


def stratified_indices(codes: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """The indices of ``len(fractions)`` parts of items whose classes are ``codes`` (integers numbering the class
    names in sorted order), each class divided in the given fractions.

    Within each class (in the order of the codes) the items' indices are
    shuffled with ``seed``; part ``k`` takes the next ``round(fraction_k * n)``
    of them (the last part takes the rest). Each part's indices are sorted, so
    it keeps the original order. The indices are shuffled in an int64
    ``array``, not a list of Python ints: a million rows cost 8 MB.
    """
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {sum(fractions)}")
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")  # each class's indices, in increasing order, one class after another
    sizes = np.bincount(codes, minlength=1) if len(codes) else np.zeros(0, dtype=np.int64)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    rng = random.Random(seed)
    start_of_class = 0
    for size in sizes.tolist():
        if not size:
            continue
        idx = array("q", order[start_of_class:start_of_class + size].astype(np.int64).tobytes())
        start_of_class += size
        rng.shuffle(idx)
        shuffled = np.frombuffer(idx, dtype=np.int64)
        start = 0
        for k, frac in enumerate(fractions):
            end = size if k == len(fractions) - 1 else start + round(frac * size)
            parts[k].append(shuffled[start:end])
            start = end
    return [np.sort(np.concatenate(part)) if part else np.zeros(0, dtype=np.int64) for part in parts]
