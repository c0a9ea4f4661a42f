"""Tokenized texts stored once, compactly: the distinct tokens, and every token of every text as an int32 index.

A `TokenStore` holds

- ``table``: the distinct tokens, in the order first seen (a list of strings:
  it grows with the vocabulary, not with the number of texts);
- ``ids``: every token of every text, in order, as its index in ``table``
  (one flat int32 array);
- ``offsets``: where each text's tokens start in ``ids`` (int64, one entry
  more than there are texts, the last being ``len(ids)``).

A store is built in memory from token lists (`TokenStore.from_lists`), or
text by text into a directory (`StoreWriter`) and read back with `read_store`,
which memory-maps ``ids`` and ``offsets``: a corpus of millions of texts costs
pages of a file, not Python lists. The directory holds ``ids.npy``,
``offsets.npy``, ``table_blob.npy`` (the distinct tokens as UTF-8, one after
another), ``table_offsets.npy`` (where each starts in the blob) and
``meta.json`` (the format, a key naming what was tokenized, the counts).
`read_store` checks all of it and raises `ValueError` (or `OSError`,
`UnicodeDecodeError`) for a store that does not check out, never trusts it.
"""

from __future__ import annotations

import json
from pathlib import Path
from tokenize import TokenError
from typing import Iterable, Iterator, Sequence

import numpy as np

FORMAT = "rnn-toolkit-tokens/2"
META = "meta.json"
ARRAYS = {"ids": np.int32, "offsets": np.int64, "table_blob": np.uint8, "table_offsets": np.int64}  # the .npy files, in order
BLOCK_ROWS, BLOCK_TOKENS = 1 << 12, 1 << 16  # the most texts, and (unless one text has more) tokens, read at a time


def concat_ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, sizes)])``, without a Python loop (int64)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.asarray(starts, dtype=np.int64) - (np.cumsum(sizes) - sizes)
    return np.repeat(shift, sizes) + np.arange(total, dtype=np.int64)


def read_blocks(ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ids, sizes)`` of texts ``rows`` (default: all, in order) of flat ``ids`` with text ``offsets``, a block of
    texts at a time: their ids one after another, and how many each text has. A block holds at most `BLOCK_ROWS`
    texts and, unless one text is longer, `BLOCK_TOKENS` ids, so reading costs the same memory for any corpus."""
    count = len(offsets) - 1 if rows is None else len(rows)
    first = 0
    while first < count:
        texts = np.arange(first, min(first + BLOCK_ROWS, count), dtype=np.int64) if rows is None else rows[first:first + BLOCK_ROWS]
        starts = np.asarray(offsets[texts])
        sizes = np.asarray(offsets[texts + 1]) - starts
        keep = max(1, int(np.searchsorted(np.cumsum(sizes), BLOCK_TOKENS, side="right")))
        starts, sizes = starts[:keep], sizes[:keep]
        first += len(sizes)
        yield np.asarray(ids[concat_ranges(starts, sizes)]), sizes


class TokenStore:
    """Token lists of texts: a table of distinct tokens, every token's index in it (``ids``) and each text's ``offsets``."""

    def __init__(self, table: list[str], ids: np.ndarray, offsets: np.ndarray) -> None:
        self.table, self.ids, self.offsets = table, ids, offsets

    @classmethod
    def from_lists(cls, token_lists: Iterable[Sequence[str]]) -> "TokenStore":
        """A store (in memory) of ``token_lists``."""
        encoder = _TableEncoder()
        ids, sizes = encoder.encode(token_lists)
        return cls(encoder.table(), ids, np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __iter__(self) -> Iterator[list[str]]:
        return iter(TokenLists(self))

    def __getitem__(self, i: int) -> list[str]:
        """The tokens of text ``i``."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"text {i} of {len(self)}")
        i %= len(self)
        return [self.table[t] for t in self.ids[self.offsets[i]:self.offsets[i + 1]].tolist()]

    def blocks(self, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, sizes)`` of texts ``rows`` (default: all, in order) a block at a time (see `read_blocks`)."""
        return read_blocks(self.ids, self.offsets, rows)

    def token_counts(self, rows: np.ndarray | None = None) -> dict[str, int]:
        """How often each token occurs in texts ``rows`` (default: all); tokens that do not occur are left out."""
        counts = np.zeros(len(self.table), dtype=np.int64)
        for ids, _ in self.blocks(rows):
            counts += np.bincount(ids, minlength=len(self.table))
        return {self.table[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}


class TokenLists:
    """The token lists of texts ``rows`` of a store (default: all), each token replaced by ``expand[token's id]``
    when ``expand`` is given (a list of tokens per table entry): a restartable iterable, read block by block."""

    def __init__(self, store: TokenStore, rows: np.ndarray | None = None, expand: Sequence[Sequence[str]] | None = None) -> None:
        self.store, self.rows, self.expand = store, rows, expand

    def __len__(self) -> int:
        return len(self.store) if self.rows is None else len(self.rows)

    def __iter__(self) -> Iterator[list[str]]:
        for ids, sizes in self.store.blocks(self.rows):
            bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
            if self.expand is None:
                flat = [self.store.table[t] for t in ids.tolist()]
                yield from (flat[a:b] for a, b in zip(bounds, bounds[1:]))
            else:
                expand, ids_list = self.expand, ids.tolist()
                yield from ([token for t in ids_list[a:b] for token in expand[t]] for a, b in zip(bounds, bounds[1:]))

    def sizes(self) -> np.ndarray:
        """How many tokens each list has (int64)."""
        weight = None if self.expand is None else np.array([len(e) for e in self.expand], dtype=np.int64)
        out = []
        for ids, sizes in self.store.blocks(self.rows):
            if weight is None:
                out.append(sizes.astype(np.int64))
            else:
                totals = np.concatenate(([0], np.cumsum(weight[ids])))
                ends = np.cumsum(sizes)
                out.append(totals[ends] - totals[ends - sizes])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


class _TableEncoder:
    """Token lists to ids in a growing table of distinct tokens."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def encode(self, token_lists: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of all the tokens (int32), and how many each list has (int64)."""
        index, sizes, ids = self.index, [], []
        for tokens in token_lists:
            sizes.append(len(tokens))
            ids.extend(index.setdefault(t, len(index)) for t in tokens)
        return np.array(ids, dtype=np.int32), np.array(sizes, dtype=np.int64)

    def table(self) -> list[str]:
        return list(self.index)


class _GrowingArray:
    """A one-dimensional ``.npy`` file written piece by piece: its header is written for length 0 and rewritten
    with the final length when closed (numpy leaves room in every header for a longer length)."""

    def __init__(self, path: Path, dtype: str) -> None:
        self.dtype, self.length = np.dtype(dtype), 0
        self.file = open(path, "wb")
        self._write_header()
        self.data_start = self.file.tell()

    def _write_header(self) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.length,)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def append(self, values: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.length += len(values)

    def close(self) -> None:
        self.file.seek(0)
        self._write_header()
        if self.file.tell() != self.data_start:
            raise AssertionError("numpy left no room in the .npy header for the final length")
        self.file.close()


class StoreWriter:
    """Builds a token store in an empty ``directory``, token lists at a time: ids and offsets go to disk as they
    come; only the table of distinct tokens stays in memory. `finish` writes the rest."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._encoder = _TableEncoder()
        self._ids = _GrowingArray(directory / "ids.npy", "<i4")
        self._offsets = _GrowingArray(directory / "offsets.npy", "<i8")
        self._offsets.append(np.zeros(1, dtype=np.int64))
        self._end, self.texts = 0, 0

    def add(self, token_lists: Sequence[Sequence[str]]) -> None:
        """Append the texts of ``token_lists``."""
        ids, sizes = self._encoder.encode(token_lists)
        self._ids.append(ids)
        self._offsets.append(self._end + np.cumsum(sizes))
        self._end += len(ids)
        self.texts += len(sizes)

    def finish(self, key: str) -> None:
        """Close the arrays and write the table and ``meta.json`` (with ``key``, naming what was tokenized)."""
        self._ids.close()
        self._offsets.close()
        encoded = [t.encode("utf-8", "surrogatepass") for t in self._encoder.table()]
        np.save(self.directory / "table_blob.npy", np.frombuffer(b"".join(encoded), dtype=np.uint8))
        np.save(self.directory / "table_offsets.npy", np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64))
        meta = {"format": FORMAT, "key": key, "texts": self.texts, "tokens": self._end, "table": len(encoded)}
        (self.directory / META).write_text(json.dumps(meta), encoding="utf-8")

    def abandon(self) -> None:
        """Close the files of a store that will not be finished."""
        self._ids.file.close()
        self._offsets.file.close()


def read_store(directory: Path, key: str) -> TokenStore:
    """The store in ``directory``, ``ids`` and ``offsets`` memory-mapped; `ValueError` if it is not the store of
    ``key`` or does not check out (wrong format or types, counts that do not add up, ids out of range)."""
    meta = json.loads((directory / META).read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"its format is not {FORMAT}")
    if meta.get("key") != key:
        raise ValueError("it belongs to other texts or settings")
    counts = [meta.get(name) for name in ("texts", "tokens", "table")]
    if not all(isinstance(c, int) for c in counts):
        raise ValueError("its counts do not add up")
    texts, tokens, distinct = counts
    arrays = {name: _map(directory / f"{name}.npy") for name in ARRAYS}
    for name, dtype in ARRAYS.items():
        if arrays[name].dtype != dtype or arrays[name].ndim != 1:
            raise ValueError(f"{name}.npy is not a one-dimensional {np.dtype(dtype).name} array")
    ids, offsets, blob, token_offsets = (arrays[name] for name in ARRAYS)
    if (len(offsets) != texts + 1 or len(ids) != tokens or len(token_offsets) != distinct + 1
            or offsets[0] != 0 or offsets[-1] != len(ids) or token_offsets[0] != 0 or token_offsets[-1] != len(blob)
            or not _non_decreasing(offsets) or not _non_decreasing(token_offsets)):
        raise ValueError("its counts do not add up")
    if len(ids) and (ids.min() < 0 or ids.max() >= len(token_offsets) - 1):
        raise ValueError("a token id is out of range")
    data, bounds = bytes(blob), token_offsets.tolist()
    table = [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(bounds, bounds[1:])]
    if len(set(table)) != len(table):
        raise ValueError("its table of tokens repeats a token")
    return TokenStore(table, ids, offsets)


def _map(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, memory-mapped (never unpickled); `ValueError` if its header does not parse."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (SyntaxError, TypeError, TokenError) as exc:  # numpy parses the header with tokenize and ast.literal_eval
        raise ValueError(f"{path.name} has a damaged header ({type(exc).__name__})") from None


def _non_decreasing(values: np.ndarray) -> bool:
    """Whether ``values`` never decrease (checked a block at a time)."""
    step = 1 << 20
    return all(not (np.diff(values[i:i + step + 1]) < 0).any() for i in range(0, max(len(values) - 1, 0), step))
