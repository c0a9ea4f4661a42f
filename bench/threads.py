#!/usr/bin/env python
"""Benchmark: one training epoch on a CPU that other programs are using.

The same small epoch (an LSTM classifier at its default sizes on ``--rows``
reviews-zh rows, random embeddings) is timed while 0, 1 and 2 competing
CPU-bound processes run (started and stopped by this script; each spins one
core in a Python loop, or runs torch matrix products on every core with
``--competitor torch``). Each row compares:

- ``default``: ``python run.py`` as shipped, whose thread count follows the
  cores the competitors leave free (`train.common.core_share`);
- ``--threads 1``, and ``--threads N`` (every core, all the time: the default
  before core sharing);
- ``passive``: every core, with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP
  threads sleep at once instead of spinning a while).

The figure is the epoch's training seconds (``train_seconds`` in
metrics.jsonl: no start-up, tokenisation or validation), the median of
``--repeats`` runs, and each setting's ratio to the row's best. The target:
``default`` within 10% of the best fixed thread count in every row, and no
slower than every core on an idle machine.

    python bench/threads.py                 # about 10 minutes on 2 cores
    python bench/threads.py --competitors 0 1 --repeats 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data_processor.base.cores import usable_cores  # noqa: E402
from data_processor.datasets import load_classification_dataset  # noqa: E402

# A competitor spinning one core in pure Python, or keeping torch's threads busy on every core.
COMPETITORS = {
    "busy": "while True: pass",
    "torch": "import torch\na = torch.randn(512, 512)\nwhile True: a = torch.tanh(a @ a / 512)",
}
CORES = usable_cores()
# Each setting: extra options and environment of the training command.
SETTINGS = {
    "default": ([], {}),
    "--threads 1": (["--threads", "1"], {}),
    f"--threads {CORES}": (["--threads", str(CORES)], {}),  # every core all the time: the default before core sharing
    "passive": (["--threads", str(CORES)], {"OMP_WAIT_POLICY": "PASSIVE"}),  # every core, idle threads sleep at once
}


def write_sample(folder: Path, rows: int) -> tuple[Path, Path]:
    """``rows`` training rows and 200 dev rows of reviews-zh as CSV files."""
    splits = load_classification_dataset("reviews-zh")
    train, dev = list(splits.train), list(splits.dev)
    random.Random(0).shuffle(train)  # the splits come sorted by label
    random.Random(0).shuffle(dev)
    paths = []
    for name, examples in (("train", train[:rows]), ("dev", dev[:200])):
        path = folder / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((e.text, e.label) for e in examples)
        paths.append(path)
    return paths[0], paths[1]


def epoch_seconds(setting: str, train: Path, dev: Path, runs: Path, run_name: str) -> float:
    """Train one epoch with ``setting``; the epoch's training seconds from its metrics.jsonl."""
    options, extra_env = SETTINGS[setting]
    args = ["train", "--model", "lstm", "--train", str(train), "--dev", str(dev), "--epochs", "1", "--min-steps", "0",
            "--embedding", "random", "--no-progress", "--seed", "1", "--runs-dir", str(runs), "--run-name", run_name, *options]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")} | extra_env
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{setting}: training failed:\n{done.stderr[-2000:]}")
    record = json.loads((runs / run_name / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[0])
    return float(record["train_seconds"])


def start_competitors(count: int, kind: str) -> list[subprocess.Popen]:
    """``count`` CPU-bound processes that run until stopped."""
    return [subprocess.Popen([sys.executable, "-c", COMPETITORS[kind]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="training rows of the timed epoch")
    parser.add_argument("--competitors", type=int, nargs="+", default=[0, 1, 2], help="how many competing processes, per row")
    parser.add_argument("--competitor", choices=sorted(COMPETITORS), default="busy", help="what each competitor runs")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), help="the settings compared")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per setting and row (the median is shown)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    print(f"cores: {CORES}; competitor: {args.competitor}; rows: {args.rows}; repeats: {args.repeats}", flush=True)
    table: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        train, dev = write_sample(Path(tmp), args.rows)
        for count in args.competitors:
            competitors = start_competitors(count, args.competitor)
            try:
                times: dict[str, list[float]] = {s: [] for s in args.settings}
                for repeat in range(args.repeats):  # settings interleaved, so a slow spell hits them all alike
                    for setting in args.settings:
                        times[setting].append(epoch_seconds(setting, train, dev, Path(tmp) / "runs", f"c{count}-r{repeat}-{len(times[setting])}-{setting.strip('-').replace(' ', '')}"))
            finally:
                stop(competitors)
            table[count] = {s: statistics.median(t) for s, t in times.items()}
            best = min(table[count].values())
            cells = "  ".join(f"{s}: {t:6.2f}s ({t / best:4.2f}x)" for s, t in table[count].items())
            print(f"{count} competing: {cells}", flush=True)
    if "default" in args.settings:
        fixed = [s for s in args.settings if s.startswith("--threads")]
        if fixed:
            worst = max(row["default"] / min(row[s] for s in fixed) for row in table.values())
            print(f"default against the best fixed thread count ({', '.join(fixed)}), worst row: {worst:.2f}x (target: at most 1.10x)")
        worst = max(row["default"] / min(row.values()) for row in table.values())
        print(f"default against the best of every setting, worst row: {worst:.2f}x")
    if args.json:
        print(json.dumps({str(k): v for k, v in table.items()}, indent=2))


if __name__ == "__main__":
    main()
