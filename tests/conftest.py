"""Shared test fixtures: sandboxed caches, shared data, a sample of real reviews. Helpers live in tests/helpers.py."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from data_processor.datasets import load_classification_dataset

from tests.helpers import SHARED_DATA, fast_flags, train_on_sample, write_csv


NEEDS = ("e2e", "fuzz", "distributed", "browser")  # the markers that say what a test needs; each puts it outside the fast tier


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs more than the fast tier gives (see pytest.ini's markers)."""
    for item in items:
        if any(item.get_closest_marker(name) for name in NEEDS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def caches_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """jieba's prefix-dictionary cache, the token, embedding and encoder caches go to test temp dirs (subprocesses too), not the project."""
    saved = {name: os.environ.get(name) for name in ("JIEBA_CACHE_DIR", "TOKEN_CACHE_DIR", "EMBEDDING_CACHE_DIR", "ENCODER_CACHE_DIR")}
    for name in saved:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    yield
    for name, old in saved.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@pytest.fixture
def shared_file():
    """Return a file from ../shared/data, or skip the test when it is absent."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.is_file():
            pytest.skip(f"{path} is absent (shared test data lives beside the project, not in it)")
        return path

    return get


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """A balanced sample of reviews-zh: 1600 train, 300 dev, 300 test rows."""
    splits = load_classification_dataset("reviews-zh")
    rng = random.Random(0)

    def pick(examples, n):
        chosen = []
        for label in ("negative", "positive"):
            pool = [e for e in examples if e.label == label]
            chosen += rng.sample(pool, n // 2)
        rng.shuffle(chosen)
        return [(e.text, e.label) for e in chosen]

    d = tmp_path_factory.mktemp("sample")
    return {
        "dir": d,
        "train": write_csv(d / "train.csv", pick(splits.train, 1600)),
        "dev": write_csv(d / "dev.csv", pick(splits.dev, 300)),
        "test": write_csv(d / "test.csv", pick(splits.test, 300)),
    }


@pytest.fixture(scope="session")
def lstm_run(sample) -> Path:
    """One small bidirectional LSTM run (max pooling, word characters, char back-off: the defaults) trained on `sample`
    with the fast flags and ``--max-len 80``, shared by the tests that use a run (serve, export)."""
    return train_on_sample(sample, "lstm", "shared-lstm", *fast_flags(max_len=80))[1]
