"""Padded, length-bucketed batches of token ids, cut lazily from compact rows.

Rows are `EncodedRows`: flat token ids with offsets (a `TokenStore`'s,
memory-mapped from the token cache, or in-memory id sequences), each token
turned into vocabulary ids through an `Expansion`. The batcher keeps only each
row's length and labels; a batch is built when it is drawn: its rows' ids
gathered, expanded, truncated and padded to the longest row it holds. Rows are
grouped into batches of similar length, so little padding is computed.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from data_processor.token_store import concat_ranges, read_blocks

RELEASE_EVERY = 16  # batches between handing back the pages of a memory-mapped corpus (shuffled rows touch most pages)


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


class Expansion:
    """What each token id becomes: the vocabulary ids ``values[starts[i]:starts[i + 1]]`` for token ``i`` (one id,
    several, or none)."""

    def __init__(self, starts: np.ndarray, values: np.ndarray) -> None:
        self.starts, self.values = starts, values
        self.sizes = np.diff(starts)

    @classmethod
    def of(cls, pieces: Sequence[Sequence[int]]) -> "Expansion":
        """The expansion that turns token ``i`` into ``pieces[i]``."""
        sizes = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
        values = np.fromiter((v for p in pieces for v in p), dtype=np.int64, count=int(sizes.sum()))
        return cls(np.concatenate(([0], np.cumsum(sizes))), values)


class EncodedRows:
    """Rows of vocabulary ids: row ``i`` is text ``rows[i]`` (default: text ``i``), the ids
    ``ids[offsets[t]:offsets[t + 1]]``, each replaced by its ``expansion`` (without one, the ids are vocabulary
    ids already). ``ids`` may be memory-mapped; nothing is copied until rows are gathered."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray | None = None, expansion: Expansion | None = None) -> None:
        self.ids, self.offsets, self.rows, self.expansion = ids, offsets, rows, expansion

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]]) -> "EncodedRows":
        """Rows of in-memory id sequences."""
        sizes = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        ids = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(sizes.sum()))
        return cls(ids, np.concatenate(([0], np.cumsum(sizes))))

    def __len__(self) -> int:
        return len(self.offsets) - 1 if self.rows is None else len(self.rows)

    def subset(self, index: np.ndarray) -> "EncodedRows":
        """Rows ``index`` of these rows, in that order."""
        texts = np.asarray(index, dtype=np.int64) if self.rows is None else self.rows[index]
        return EncodedRows(self.ids, self.offsets, texts, self.expansion)

    def spans(self, max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Each row's length once cut to ``max_len`` ids (a row with none counts 1: it will hold ``<unk>``), and how
        many of its tokens give those ids (int64 and int32 arrays)."""
        lengths, reads = [], []
        for ids, sizes in read_blocks(self.ids, self.offsets, self.rows):
            if self.expansion is None:
                totals, read = sizes, sizes if not max_len else np.minimum(sizes, max_len)
            else:
                # ids produced before each token of the block, from the block's start; a row's ids are the difference
                produced = np.concatenate(([0], np.cumsum(self.expansion.sizes[ids])))
                begin = np.cumsum(sizes) - sizes
                totals = produced[begin + sizes] - produced[begin]
                read = sizes
                if max_len:  # the tokens that reach max_len ids: the first position where the count passes it
                    reach = np.searchsorted(produced, produced[begin] + max_len, side="left") - begin
                    read = np.minimum(reach, sizes)
            lengths.append(np.maximum(np.minimum(totals, max_len) if max_len else totals, 1))
            reads.append(read.astype(np.int32))
        if not lengths:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        return np.concatenate(lengths), np.concatenate(reads)

    def release_pages(self) -> None:
        """Hand back the pages of memory-mapped ids and offsets read so far (they stay in the system's file cache), and
        tell the system the reads are random (no read-ahead around each one): else an epoch of shuffled rows over a
        memory-mapped corpus would keep the whole file resident in this process."""
        for array in (self.ids, self.offsets):
            while array is not None and getattr(array, "_mmap", None) is None:
                array = getattr(array, "base", None)
            if array is not None and hasattr(mmap, "MADV_DONTNEED"):
                array._mmap.madvise(mmap.MADV_DONTNEED)
                array._mmap.madvise(mmap.MADV_RANDOM)

    def gather(self, index: np.ndarray, reads: np.ndarray, width: int, max_len: int | None, pad_id: int, unk_id: int) -> torch.Tensor:
        """Rows ``index`` (reading ``reads`` tokens of each, see `spans`) as an int64 tensor ``[len(index), width]``: their
        ids cut to ``max_len``, ``unk_id`` for a row without any, padded with ``pad_id``."""
        texts = index if self.rows is None else self.rows[index]
        tokens = np.asarray(self.ids[concat_ranges(np.asarray(self.offsets[texts]), reads)])
        counts = reads
        if self.expansion is not None:
            sizes = self.expansion.sizes[tokens]
            tokens = self.expansion.values[concat_ranges(self.expansion.starts[tokens], sizes)]
            ends = np.concatenate(([0], np.cumsum(sizes)))[np.cumsum(reads)]
            counts = np.diff(np.concatenate(([0], ends)))
        row = np.repeat(np.arange(len(index)), counts)
        column = np.arange(len(tokens)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = column < max_len if max_len else slice(None)
        out = np.full((len(index), width), pad_id, dtype=np.int64)
        out[row[keep], column[keep]] = tokens[keep]
        out[counts == 0, 0] = unk_id
        return torch.from_numpy(out)


def as_targets(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Training targets as an array: class ids (int64 ``[N]``), or a multi-hot float32 matrix ``[N, C]`` (multi-label)."""
    array = np.asarray(labels)
    return array.astype(np.float32) if array.ndim == 2 else array.astype(np.int64)


class BucketBatcher:
    """Iterate over length-bucketed batches of encoded sequences.

    ``sequences`` are `EncodedRows` or in-memory id sequences. Sequences
    longer than ``max_len`` are truncated; empty ones become a single
    ``unk_id`` so every row has length >= 1 (pooling needs a real step). With
    ``shuffle``, each epoch shuffles rows, sorts them by length within pools of
    ``pool_batches`` batches, and shuffles the batch order; without it, rows
    are sorted by length (deterministic, for evaluation). With ``world`` > 1
    each batch is shared out among ``world`` processes and this batcher yields
    share ``rank`` of each.

    It keeps each row's length (``lengths``) and label (``labels``: class ids,
    or a multi-hot matrix for multi-label data), not its ids: those are
    gathered when a batch is drawn.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]] | EncodedRows,
        labels: Sequence[int] | np.ndarray | None,
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
        rows = sequences if isinstance(sequences, EncodedRows) else EncodedRows.from_sequences(sequences)
        if labels is not None and len(labels) != len(rows):
            raise ValueError("sequences and labels differ in length")
        lengths, self._reads = rows.spans(max_len)
        self.rows, self.lengths = rows, torch.from_numpy(lengths)
        self.labels = torch.as_tensor(as_targets(labels)) if labels is not None else None
        self.pad_id, self.unk_id, self.max_len = pad_id, unk_id, max_len
        self.batch_size, self.shuffle, self.pool_batches = batch_size, shuffle, pool_batches
        self.rank, self.world = rank, world
        self._generator = torch.Generator().manual_seed(seed)

    @property
    def num_rows(self) -> int:
        """How many rows there are."""
        return len(self.lengths)

    def subset(self, index: Sequence[int] | torch.Tensor, shuffle: bool = False, seed: int = 0) -> "BucketBatcher":
        """A batcher of rows ``index`` only (with their labels), of the same batch size and share."""
        index = np.asarray(index, dtype=np.int64)
        labels = self.labels.numpy()[index] if self.labels is not None else None
        return BucketBatcher(self.rows.subset(index), labels, self.batch_size, self.pad_id, self.unk_id, self.max_len, shuffle, seed,
                             self.pool_batches, self.rank, self.world)

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
        for number, whole in enumerate(self._batch_indices()):
            if number % RELEASE_EVERY == 0:
                self.rows.release_pages()
            idx = whole if self.world == 1 else torch.tensor_split(whole[torch.sort(self.lengths[whole], stable=True).indices],
                                                                    self.world)[self.rank]
            lengths = self.lengths[idx]
            width = int(lengths.max()) if len(idx) else 1
            labels = self.labels[idx] if self.labels is not None else None
            rows = idx.numpy()
            tokens = self.rows.gather(rows, self._reads[rows], width, self.max_len, self.pad_id, self.unk_id)
            yield Batch(tokens, lengths, labels, idx, len(whole))
