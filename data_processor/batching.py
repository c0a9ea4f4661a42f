"""Padded, length-bucketed batches of token ids.

The whole dataset is turned into one padded id tensor once; a batch is a
slice of rows, cut to the longest sequence it holds. Rows are grouped into
batches of similar length, so little padding is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch


@dataclass
class Batch:
    """Token ids ``[B, T]`` (padded), true lengths ``[B]``, labels ``[B]`` (or None) and row indices ``[B]``.

    ``total`` is the number of rows in the whole (global) batch this one is a
    share of: ``B`` unless the batches are sharded across processes.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor | None
    index: torch.Tensor
    total: int = -1

    def __post_init__(self) -> None:
        if self.total < 0:
            self.total = len(self.lengths)

    def to(self, device: torch.device | str) -> "Batch":
        """The batch on ``device`` (lengths stay on the CPU; the model moves them where it needs them)."""
        labels = self.labels.to(device) if self.labels is not None else None
        return Batch(self.tokens.to(device), self.lengths, labels, self.index, self.total)


class BucketBatcher:
    """Iterate over length-bucketed batches of encoded sequences.

    Sequences longer than ``max_len`` are truncated; empty ones become a single
    ``unk_id`` so every row has length >= 1 (pooling needs a real step). With
    ``shuffle``, each epoch shuffles rows, sorts them by length within pools of
    ``pool_batches`` batches, and shuffles the batch order; without it, rows
    are sorted by length (deterministic, for evaluation).
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        labels: Sequence[int] | None,
        batch_size: int,
        pad_id: int = 0,
        unk_id: int = 1,
        max_len: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        pool_batches: int = 50,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0..{world - 1}")
        if labels is not None and len(labels) != len(sequences):
            raise ValueError("sequences and labels differ in length")
        rows = [list(s[:max_len] if max_len else s) or [unk_id] for s in sequences]
        self.lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        width = int(self.lengths.max()) if rows else 1
        self.tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            self.tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        self.labels = torch.tensor(list(labels), dtype=torch.long) if labels is not None else None
        self.batch_size, self.shuffle, self.pool_batches = batch_size, shuffle, pool_batches
        self.rank, self.world = rank, world
        self._generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shuffling generator's state, so a resumed run draws the same batch orders."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Put back a state taken by `state_dict`."""
        self._generator.set_state(state["generator"])

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def _batch_indices(self) -> list[torch.Tensor]:
        n = len(self.lengths)
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            return list(order.split(self.batch_size))
        perm = torch.randperm(n, generator=self._generator)
        pool = self.batch_size * self.pool_batches
        batches: list[torch.Tensor] = []
        for chunk in perm.split(pool):
            chunk = chunk[torch.sort(self.lengths[chunk], stable=True).indices]
            batches.extend(chunk.split(self.batch_size))
        shuffled = torch.randperm(len(batches), generator=self._generator)
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[Batch]:
        for whole in self._batch_indices():
            idx = whole if self.world == 1 else torch.tensor_split(whole[torch.sort(self.lengths[whole], stable=True).indices],
                                                                    self.world)[self.rank]
            lengths = self.lengths[idx]
            width = int(lengths.max()) if len(idx) else 1
            labels = self.labels[idx] if self.labels is not None else None
            yield Batch(self.tokens[idx, :width], lengths, labels, idx, len(whole))
