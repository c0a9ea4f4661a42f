"""Resume after a crash: real training processes killed with SIGKILL (or SIGINT) at seeded random points, then resumed,
end exactly where an uninterrupted run with the same seed ends."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import ROOT, assert_user_error, fast_flags, run_cli, write_csv

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and advisory locks are POSIX")

# a small, quick classifier (about 0.3 s per epoch): one thread, so runs in different processes make the same steps
CLASSIFIER = fast_flags(epochs=10, batch_size=16, patience=0, max_len=40, seed=3)
TIMING = ("seconds", "train_seconds", "elapsed")  # the only fields of an epoch record that may differ between runs


@pytest.fixture(scope="module")
def data(sample, tmp_path_factory):
    """600 training, 200 dev and 200 test rows of the reviews-zh sample."""
    d = tmp_path_factory.mktemp("resume")
    files = {}
    for split, n in (("train", 600), ("dev", 200), ("test", 200)):
        with open(sample[split], encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))[1:n + 1]
        files[split] = write_csv(d / f"{split}.csv", rows)
    return {"dir": d, "args": ["--train", str(files["train"]), "--dev", str(files["dev"]), "--test", str(files["test"]),
                               "--runs-dir", str(d / "runs"), "--token-cache", str(d / "tokens"), *CLASSIFIER]}


def start(*args: str) -> subprocess.Popen:
    """``python run.py ARGS`` as a background process."""
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish(process: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def epochs_logged(run: Path) -> int:
    metrics = run / "metrics.jsonl"
    return len(metrics.read_text(encoding="utf-8").splitlines()) if metrics.is_file() else 0


def kill_after(process: subprocess.Popen, run: Path, epochs: int, delay: float,
               sig: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """Send ``sig`` to ``process`` ``delay`` seconds after ``run`` has logged ``epochs`` epochs (unless it ended first)."""
    while epochs_logged(run) < epochs and process.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(sig)
    return finish(process)


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def assert_same_run(a: Path, b: Path) -> None:
    """Same epochs, same figures, same best weights, both marked complete and without resumable state left."""
    assert records(a) == records(b)
    summary_a, summary_b = (json.loads((r / "summary.json").read_text(encoding="utf-8")) for r in (a, b))
    for key in ("best_epoch", "best_dev_accuracy", "test_accuracy", "test_macro_f1", "epochs_run"):
        assert summary_a[key] == summary_b[key], key
    weights_a, weights_b = (torch.load(r / "model.pt", weights_only=True) for r in (a, b))
    assert weights_a.keys() == weights_b.keys() and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    for run in (a, b):
        assert (run / "complete.json").is_file() and not (run / "last.pt").exists()


@pytest.fixture(scope="module")
def reference(data):
    """The uninterrupted run."""
    result = finish(start(*data["args"], "--run-name", "reference"))
    assert result.returncode == 0, result.stderr
    return data["dir"] / "runs" / "reference"


@pytest.mark.e2e
def test_killed_three_times_at_random_points_and_resumed_ends_like_an_uninterrupted_run(data, reference):
    rng = random.Random(2026)  # where the kills fall: 0-2 epochs after the last one saved, plus up to one epoch's time
    run = data["dir"] / "runs" / "killed"
    for _ in range(3):
        started = (run / "config.json").is_file()
        process = start(*(["--resume", str(run), "--no-progress"] if started else [*data["args"], "--run-name", "killed"]))
        result = kill_after(process, run, epochs=epochs_logged(run) + rng.randint(0, 2), delay=rng.uniform(0, 0.3))
        assert result.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert not (run / "complete.json").exists()
    if (run / "config.json").is_file():
        result = finish(start("--resume", str(run), "--no-progress"))
    else:  # every kill came before the run directory was written: starting again is all there is to do
        result = finish(start(*data["args"], "--run-name", "killed"))
    assert result.returncode == 0, result.stderr
    assert_same_run(reference, run)


@pytest.mark.e2e
def test_ctrl_c_keeps_the_best_weights_and_says_how_to_resume(data, reference):
    run = data["dir"] / "runs" / "interrupted"
    result = kill_after(start(*data["args"], "--run-name", "interrupted"), run, epochs=2, delay=0.05, sig=signal.SIGINT)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines()[-1] == (f"error: interrupted; the run so far is in {run}; continue it with: "
                                                      f"python run.py train --resume {run}")
    assert (run / "model.pt").is_file() and (run / "last.pt").is_file() and not (run / "complete.json").exists()
    predicted = run_cli("predict", "--run", str(run), "质量太差，很失望")
    assert predicted.returncode == 0 and "did not finish training" in predicted.stderr
    assert_user_error(run_cli(*data["args"], "--run-name", "interrupted"), "holds an interrupted run", f"--resume {run}")
    resumed = finish(start("--resume", str(run), "--no-progress"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch" in resumed.stderr
    assert_same_run(reference, run)
    assert_user_error(run_cli("--resume", str(run)), "this run finished", "nothing to resume")


@pytest.mark.e2e
def test_a_killed_character_model_resumes_to_the_same_weights(tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(["aardonyx", "abelisaurus", "abrictosaurus", "achelousaurus", "acrocanthosaurus", "adamantisaurus",
                                 "aegyptosaurus", "afrovenator", "agilisaurus", "alamosaurus"] * 30) + "\n", encoding="utf-8")
    args = ["generate", "train", "--corpus", str(corpus), "--lines", "--cell", "gru", "--hidden-size", "32", "--epochs", "6",
            "--seq-len", "16", "--batch-size", "8", "--threads", "1", "--no-progress", "--runs-dir", str(tmp_path / "runs")]
    assert finish(start(*args, "--run-name", "reference")).returncode == 0
    run = tmp_path / "runs" / "killed"
    process = start(*args, "--run-name", "killed")
    assert kill_after(process, run, epochs=2, delay=0.0).returncode == -signal.SIGKILL
    assert (run / "last.pt").is_file()
    resumed = finish(start("generate", "train", "--resume", str(run), "--no-progress"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch" in resumed.stderr
    assert records(tmp_path / "runs" / "reference") == records(run)
    weights = [torch.load(r / "model.pt", weights_only=True) for r in (tmp_path / "runs" / "reference", run)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_resume_refuses_other_options_a_dry_run_and_runs_that_cannot_resume(tmp_path):
    assert_user_error(run_cli("--resume", str(tmp_path), "--epochs", "3"), "leave out --epochs")
    assert_user_error(run_cli("--resume", str(tmp_path), "--model", "lstm"), "leave out --model")  # a default value, given
    assert_user_error(run_cli("--resume", str(tmp_path), "--dry-run"), "--resume and --dry-run do not go together")
    assert_user_error(run_cli("--resume", str(tmp_path / "nowhere")), "no such run directory")
    assert_user_error(run_cli("--resume", str(tmp_path)), "not a run directory")
    train = write_csv(tmp_path / "t.csv", [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 10)
    result = run_cli("--model", "tfidf", "--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--run-name", "t")
    assert result.returncode == 0, result.stderr
    assert_user_error(run_cli("--resume", str(tmp_path / "runs" / "t")), "this run finished")
    (tmp_path / "runs" / "t" / "complete.json").unlink()
    (tmp_path / "runs" / "t" / "last.pt").write_bytes(b"")
    assert_user_error(run_cli("--resume", str(tmp_path / "runs" / "t")), "--model tfidf run is fitted in one step")
    assert_user_error(run_cli("generate", "train", "--resume", str(tmp_path / "runs" / "t")), "not a 'char-lm' run")
