"""The labelled splits a classification run uses, and label ids: shared by the RNN and the TF-IDF models.

`load_splits` gives the splits as lists of `Example`s (the TF-IDF model reads
its texts whole). `read_splits` gives the same splits compactly, for the RNN's
streaming pipeline: a file is read row by row, keeping each row's label and
line in arrays, never its text; a dev split held out of --train is a set of
row indices into it (the same rows as `load_splits` draws).
"""

from __future__ import annotations

import collections
import math
from array import array
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from data_processor.datasets import LabelledSplits, load_classification_dataset
from data_processor.base.errors import DataError, where
from data_processor.io import Example, RowStream, Table, Texts, read_table
from data_processor.base.messages import Log, log_stderr
from data_processor.splits import stratified_indices, stratified_split
from data_processor.token_cache import TextScan
from data_processor.vocab import Vocab
from train.classify.multilabel import multi_hot, split_labels
from train.classify.settings import ClassifierConfig


def build_label_vocab(examples: Sequence[Example], source: str) -> Vocab:
    """The label vocabulary of the training examples (see `label_vocab`)."""
    return label_vocab({e.label for e in examples}, source)


def label_vocab(names: Iterable[str], source: str) -> Vocab:
    """The label vocabulary of the training labels ``names`` (sorted); a `DataError` if there are fewer than two."""
    labels = Vocab(sorted(set(names)), specials=())
    if len(labels) < 2:
        raise DataError(f"{source}: the training data has only one label ({labels.itos[0]!r}); a classifier needs at least two")
    return labels


def encode_labels(labels: Vocab, examples: Sequence[Example], source: str) -> list[int]:
    """Label ids of ``examples``; a label that ``labels`` lacks is a `DataError` naming its line."""
    ids = []
    for e in examples:
        if e.label not in labels:
            raise unknown_label(labels, source, e.line, e.label)
        ids.append(labels.index(e.label))
    return ids


def example_label_sets(examples: Sequence[Example], sep: str, source: str) -> list[list[str]]:
    """Each example's labels: its label cell split at ``sep`` (a cell with none is a `DataError` naming its line)."""
    return [split_labels(e.label or "", sep, source, e.line) for e in examples]


def encode_label_sets(labels: Vocab, examples: Sequence[Example], sep: str, source: str) -> np.ndarray:
    """The multi-hot matrix ``[N, C]`` of multi-label ``examples``; a label that ``labels`` lacks is a `DataError`."""
    sets = example_label_sets(examples, sep, source)
    for e, names in zip(examples, sets):
        for name in names:
            if name not in labels:
                raise unknown_label(labels, source, e.line, name)
    return multi_hot(sets, labels.itos)


@dataclass
class LabelTargets:
    """How the label cells of `Example`s become targets: one label per cell (``sep`` None), or labels joined by ``sep``."""

    sep: str | None = None

    def vocab(self, examples: Sequence[Example], source: str) -> Vocab:
        """The label vocabulary of training examples."""
        if self.sep is None:
            return build_label_vocab(examples, source)
        return label_vocab((label for labels in example_label_sets(examples, self.sep, source) for label in labels), source)

    def encode(self, labels: Vocab, examples: Sequence[Example], source: str) -> list[int] | np.ndarray:
        """Class ids, or a multi-hot matrix ``[N, C]``; a label ``labels`` lacks is a `DataError` naming its line."""
        if self.sep is None:
            return encode_labels(labels, examples, source)
        return encode_label_sets(labels, examples, self.sep, source)


def unknown_label(labels: Vocab, source: str, line: int, label: str | None) -> DataError:
    """The error for a row (of ``source``, at ``line``) whose ``label`` training never saw."""
    return DataError(f"{where(source, line)}: label {label!r} does not occur in the training data (its labels: {', '.join(labels.itos)})")


def split_names(config: ClassifierConfig) -> dict[str, str]:
    """A name per split, for messages: the dataset's split, or the file (``FILE (dev split)`` for a held-out dev split)."""
    if config.train is None:
        return {s: f"{config.dataset} {s}" for s in ("train", "dev", "test")}
    held_out_test = f"{config.train} (test split)" if config.test_ratio else ""
    return {"train": config.train, "dev": config.dev or f"{config.train} (dev split)", "test": config.test or held_out_test}


def _report_skipped(path: object, skipped: int, log: Log) -> None:
    if skipped:
        log(f"{path}: skipped {skipped} bad rows (--skip-bad-rows)")


def load_splits(config: ClassifierConfig, log: Log = log_stderr) -> tuple[LabelledSplits, dict[str, str]]:
    """The train/dev/test examples the config asks for, and a name per split for messages."""
    names = split_names(config)
    if config.train is None:
        return load_classification_dataset(config.dataset), names

    def read(path: str) -> Table:
        table = read_table(path, config.text_col, config.label_col, config.format, config.encoding, config.skip_bad_rows)
        _report_skipped(path, table.skipped, log)
        return table

    examples = read(config.train).examples
    shares = held_out_shares(config)
    parts = dict(zip(shares, stratified_split(examples, [e.label for e in examples], tuple(shares.values()), config.seed)))
    check_held_out(config, {name: len(part) for name, part in parts.items()},
                   max(collections.Counter(e.label for e in examples).values(), default=0))
    dev = parts["dev"] if "dev" in parts else read(config.dev).examples
    test = parts["test"] if "test" in parts else read(config.test).examples if config.test else []
    return LabelledSplits(parts["train"], dev, test, source=config.train), names


def held_out_shares(config: ClassifierConfig) -> dict[str, float]:
    """The splits cut from --train and the share of its rows each takes (within each label): "train", then "dev"
    (--dev-ratio) without --dev, then "test" (--test-ratio) when that is given without --test."""
    shares = {}
    if not config.dev:
        shares["dev"] = config.dev_ratio
    if config.test_ratio and not config.test:
        shares["test"] = config.test_ratio
    return {"train": 1 - sum(shares.values()), **shares}


def check_held_out(config: ClassifierConfig, sizes: dict[str, int], largest_label: int) -> None:
    """A `DataError` when a split cut from --train came out empty (``sizes``: rows per split), saying why: each label
    gives its share of rows, rounded, and ``largest_label`` (the rows of the most frequent label) is too few for it."""
    for name, flag in (("dev", "--dev"), ("test", "--test")):
        if sizes.get(name) == 0:
            ratio = config.dev_ratio if name == "dev" else config.test_ratio
            enough = (math.floor(50 / max(largest_label, 1)) + 1) / 100  # the next hundredth at which round(ratio * rows) >= 1
            raise DataError(f"{config.train}: the {name} split is empty: it takes --{name}-ratio {ratio} of each label's rows, "
                            f"rounded, and no label has more than {largest_label} row{'s' if largest_label != 1 else ''}; pass "
                            f"{flag} FILE, or a --{name}-ratio of at least {enough:g}")


@dataclass
class LabelledTexts:
    """The labelled rows of one file (or one in-memory list): ``texts``, a restartable iterable that reads them again;
    ``scan``, what a first pass over the texts learnt (for the token cache); and each row's label (``codes``, int32
    indices into the sorted ``label_names``) and 1-based source ``lines`` (int64)."""

    texts: Iterable[str]
    scan: TextScan
    label_names: list[str]
    codes: np.ndarray
    lines: np.ndarray

    @classmethod
    def read(cls, rows: Iterable[Example]) -> "LabelledTexts":
        """One pass over ``rows`` (a `RowStream`, or a list of `Example`s)."""
        scan, code, codes, lines = TextScan(), {}, array("i"), array("q")
        for example in rows:
            scan.add(example.text)
            codes.append(code.setdefault(example.label, len(code)))
            lines.append(example.line)
        names = sorted(code)
        renumber = np.zeros(len(names), dtype=np.int32)
        renumber[[code[name] for name in names]] = np.arange(len(names), dtype=np.int32)
        return cls(Texts(rows), scan, names, renumber[np.frombuffer(codes, dtype=np.int32)], np.frombuffer(lines, dtype=np.int64))


@dataclass
class Split:
    """Rows ``rows`` (sorted indices; None: all) of ``data``, and the split's ``name`` for messages."""

    data: LabelledTexts
    rows: np.ndarray | None
    name: str

    def __len__(self) -> int:
        return len(self.data.codes) if self.rows is None else len(self.rows)

    def texts(self) -> list[str]:
        """The split's texts, in row order (read again from their source)."""
        if self.rows is None:
            return list(self.data.texts)
        keep = np.zeros(len(self.data.codes), dtype=bool)
        keep[self.rows] = True
        return [text for text, kept in zip(self.data.texts, keep) if kept]

    def _codes(self) -> np.ndarray:
        return self.data.codes if self.rows is None else self.data.codes[self.rows]

    def label_vocab(self) -> Vocab:
        """The label vocabulary of this (training) split (see `label_vocab`)."""
        return label_vocab((self.data.label_names[c] for c in np.unique(self._codes()).tolist()), self.name)

    def label_sets(self, sep: str) -> dict[int, list[str]]:
        """The labels of each distinct label cell of these rows (by code), split at ``sep``; a cell that holds no label
        once split is a `DataError` naming the first row with it."""
        return {code: split_labels(self.data.label_names[code], sep, self.name, self._first_line(code))
                for code in np.unique(self._codes()).tolist()}

    def _first_line(self, code: int) -> int:
        """The source line of the first of these rows whose label cell has ``code``."""
        first = int(np.flatnonzero(self._codes() == code)[0])
        return int(self.data.lines[first if self.rows is None else self.rows[first]])

    def multi_label_vocab(self, sep: str) -> Vocab:
        """The label vocabulary of this (training) split when each cell holds labels joined by ``sep``."""
        return label_vocab((label for labels in self.label_sets(sep).values() for label in labels), self.name)

    def label_matrix(self, labels: Vocab, sep: str) -> np.ndarray:
        """Each row's labels (cells split at ``sep``) as a multi-hot float32 matrix ``[N, C]`` over ``labels``; a label
        that ``labels`` lacks is a `DataError` naming the first such row's line."""
        sets = self.label_sets(sep)
        for code, names in sets.items():
            for name in names:
                if name not in labels:
                    raise unknown_label(labels, self.name, self._first_line(code), name)
        codes = sorted(sets)
        table = multi_hot([sets[c] for c in codes], labels.itos)
        position = np.zeros(len(self.data.label_names), dtype=np.int64)
        position[codes] = np.arange(len(codes))
        return table[position[self._codes()]]

    def label_ids(self, labels: Vocab) -> np.ndarray:
        """Each row's id in ``labels`` (int64); a label that ``labels`` lacks is a `DataError` naming the first such row's line."""
        ids = np.array([labels.stoi.get(name, -1) for name in self.data.label_names], dtype=np.int64)[self._codes()]
        unknown = np.flatnonzero(ids < 0)
        if len(unknown):
            row = int(unknown[0]) if self.rows is None else int(self.rows[unknown[0]])
            raise unknown_label(labels, self.name, int(self.data.lines[row]), self.data.label_names[self.data.codes[row]])
        return ids


@dataclass
class CompactSplits:
    """The splits of a run as `Split`s (no test split: None), and a line saying where they came from."""

    train: Split
    dev: Split
    test: Split | None
    source: str


def read_splits(config: ClassifierConfig, log: Log = log_stderr) -> CompactSplits:
    """The splits `load_splits` gives, read compactly: files row by row, a held-out dev split as row indices."""
    names = split_names(config)
    if config.train is None:
        dataset = load_classification_dataset(config.dataset)
        split = {s: Split(LabelledTexts.read(getattr(dataset, s)), None, names[s]) for s in ("train", "dev", "test") if getattr(dataset, s)}
        return CompactSplits(split["train"], split["dev"], split.get("test"), dataset.source)

    def read(path: str) -> LabelledTexts:
        rows = RowStream(path, config.text_col, config.label_col, config.format, config.encoding, config.skip_bad_rows)
        data = LabelledTexts.read(rows)
        _report_skipped(path, rows.skipped, log)
        return data

    train_data = read(config.train)
    shares = held_out_shares(config)
    rows = dict(zip(shares, stratified_indices(train_data.codes, tuple(shares.values()), config.seed)))
    check_held_out(config, {name: len(part) for name, part in rows.items()}, int(np.bincount(train_data.codes).max(initial=0)))
    cut = {name: Split(train_data, part if len(shares) > 1 else None, names[name]) for name, part in rows.items()}
    dev = cut["dev"] if "dev" in cut else Split(read(config.dev), None, names["dev"])
    test = cut["test"] if "test" in cut else Split(read(config.test), None, names["test"]) if config.test else None
    return CompactSplits(cut["train"], dev, test, config.train)
