"""The labelled splits a classification run uses, and label ids: shared by the RNN and the TF-IDF models."""

from __future__ import annotations

from typing import Sequence

from data_processor.datasets import LabelledSplits, load_classification_dataset
from data_processor.errors import DataError, where
from data_processor.io import Example, Table, read_table
from data_processor.messages import Log, log_stderr
from data_processor.splits import stratified_split
from data_processor.vocab import Vocab
from train.classify.settings import ClassifierConfig


def build_label_vocab(examples: Sequence[Example], source: str) -> Vocab:
    """The label vocabulary of the training examples (sorted names); a `DataError` if there are fewer than two labels."""
    labels = Vocab(sorted({e.label for e in examples}), specials=())
    if len(labels) < 2:
        raise DataError(f"{source}: the training data has only one label ({labels.itos[0]!r}); a classifier needs at least two")
    return labels


def encode_labels(labels: Vocab, examples: Sequence[Example], source: str) -> list[int]:
    """Label ids of ``examples``; a label that ``labels`` lacks is a `DataError` naming its line."""
    ids = []
    for e in examples:
        if e.label not in labels:
            raise DataError(f"{where(source, e.line)}: label {e.label!r} does not occur in the training data (its labels: {', '.join(labels.itos)})")
        ids.append(labels.index(e.label))
    return ids


def load_splits(config: ClassifierConfig, log: Log = log_stderr) -> tuple[LabelledSplits, dict[str, str]]:
    """The train/dev/test examples the config asks for, and a name per split for messages."""
    if config.train is None:
        splits = load_classification_dataset(config.dataset)
        names = {s: f"{config.dataset} {s}" for s in ("train", "dev", "test")}
        return splits, names

    def read(path: str) -> Table:
        table = read_table(path, config.text_col, config.label_col, config.format, config.encoding, config.skip_bad_rows)
        if table.skipped:
            log(f"{path}: skipped {table.skipped} bad rows (--skip-bad-rows)")
        return table

    train = read(config.train).examples
    names = {"train": config.train, "dev": config.dev or f"{config.train} (dev split)", "test": config.test or ""}
    if config.dev:
        dev = read(config.dev).examples
    else:
        train, dev = stratified_split(train, [e.label for e in train], (1 - config.dev_ratio, config.dev_ratio), config.seed)
        if not dev:
            raise DataError(f"{config.train}: too few rows for a dev split of {config.dev_ratio}; pass --dev FILE")
    test = read(config.test).examples if config.test else []
    return LabelledSplits(train, dev, test, source=config.train), names
