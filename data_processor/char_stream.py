"""Chunks of an id stream for truncated backpropagation through time.

Both iterators yield ``(inputs, targets)`` int64 arrays of shape ``[rows, T]``
where the targets are the inputs shifted one step ahead.

* ``consecutive``: the stream is cut into ``rows`` contiguous lanes and read
  left to right, so chunk ``k + 1`` of a lane continues chunk ``k``: the hidden
  state can be carried from one chunk to the next.
* ``random``: chunks start at random places; each chunk stands alone, so the
  hidden state starts from zero every time.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

CHUNKINGS = ("consecutive", "random")
Chunk = tuple[np.ndarray, np.ndarray]


def lanes(n_ids: int, batch: int, seq_len: int) -> tuple[int, int]:
    """(rows, lane length) for reading ``n_ids`` ids as at most ``batch`` lanes of at least ``seq_len`` steps.

    Fewer lanes are used when the stream is too short to give each ``seq_len``
    steps; a stream shorter than one chunk becomes one short lane.
    """
    usable = n_ids - 1
    rows = max(1, min(batch, usable // seq_len))
    return rows, usable // rows


def consecutive_steps(n_ids: int, batch: int, seq_len: int, offset: int = 0) -> int:
    """How many chunks `consecutive_chunks` yields."""
    _, length = lanes(n_ids - offset, batch, seq_len)
    return math.ceil(length / seq_len)


def consecutive_chunks(ids: np.ndarray, batch: int, seq_len: int, offset: int = 0) -> Iterator[Chunk]:
    """Contiguous lanes read ``seq_len`` steps at a time, starting at ``offset``; the last chunk may be shorter."""
    ids = ids[offset:]
    rows, length = lanes(len(ids), batch, seq_len)
    inputs = ids[: rows * length].reshape(rows, length)
    targets = ids[1 : rows * length + 1].reshape(rows, length)
    for start in range(0, length, seq_len):
        yield inputs[:, start : start + seq_len], targets[:, start : start + seq_len]


def random_steps(n_ids: int, batch: int, seq_len: int) -> int:
    """How many batches `random_chunks` yields (at least one when the stream holds one chunk)."""
    return max(1, ((n_ids - 1) // seq_len) // batch)


def random_chunks(ids: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator) -> Iterator[Chunk]:
    """Non-overlapping chunks from a random start offset, in random order, ``batch`` at a time."""
    offset = int(rng.integers(0, seq_len)) if len(ids) - 1 >= 2 * seq_len else 0
    starts = np.arange(offset, len(ids) - seq_len, seq_len)
    rng.shuffle(starts)
    rows = min(batch, len(starts))
    for k in range(random_steps(len(ids) - offset, batch, seq_len)):
        chosen = starts[k * rows : (k + 1) * rows]
        index = chosen[:, None] + np.arange(seq_len)[None, :]
        yield ids[index], ids[index + 1]
