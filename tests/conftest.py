"""Shared test fixtures: the project root, a sandboxed jieba cache, run.py runners, shared data."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from data_processor.datasets import load_classification_dataset

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


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


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``run.main(ARGS)`` in this process, capturing what it prints; the result looks like a finished subprocess.

    The same code runs as in ``python run.py ARGS`` without paying for a new
    interpreter and its imports; `run_subprocess` is for tests that need a real process.
    """
    import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run.main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return subprocess.CompletedProcess(["run.py", *args], code, out.getvalue(), err.getvalue())


def run_subprocess(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python run.py ARGS`` from the project root in a new process, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one ``error: ...`` line on stderr containing every fragment, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert lines and lines[-1].startswith("error: "), result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


@pytest.fixture
def shared_file():
    """Return a file from ../shared/data, or skip the test when it is absent."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.is_file():
            pytest.skip(f"{path} is absent (shared test data lives beside the project, not in it)")
        return path

    return get


def train_on_sample(sample: dict, model: str, name: str, *options: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Train ``model`` on the `sample` splits into the run ``name``; the run must succeed. Returns the result and the run directory."""
    runs = sample["dir"] / "runs"
    result = run_cli("--model", model, "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
                     "--runs-dir", str(runs), "--run-name", name, *options)
    assert result.returncode == 0, result.stderr
    return result, runs / name


def write_csv(path: Path, rows) -> Path:
    """Write (text, label) rows as a CSV file with a header."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


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
