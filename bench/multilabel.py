#!/usr/bin/env python
"""Multi-label classification on real reviews: the default LSTM against TF-IDF one-vs-rest.

Builds a multi-label set from ``../shared/data/online_shopping_10_cats.csv``:
each review carries two labels, its product category and its sentiment
(``书籍|positive``), 12 labels in all. The rows are split 80/10/10, stratified
by label set with the fixed seed `SPLIT_SEED` (the project's own splitter);
training keeps ``--train-rows`` stratified rows (default `TRAIN_ROWS`, as
``bench/accuracy.py`` caps this file, so that the default LSTM trains in
minutes on 2 cores; ``--train-rows 0`` keeps all 50,000). Then, per model and
seed, one ``run.py --multi-label`` run with default settings (plus ``--set``
overrides), and a table of test micro-, macro- and samples-F1, subset accuracy
and Hamming loss, and the dev micro-F1 the thresholds were chosen on.

    python bench/multilabel.py                          # lstm and tfidf, seed 1 (about 15 minutes on 2 cores)
    python bench/multilabel.py --models tfidf --seeds 1 2 3
    python bench/multilabel.py --set threshold=per-label
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.accuracy import parse_overrides  # noqa: E402
from bench.run_benchmarks import machine  # noqa: E402
from bench.scale import write_rows  # noqa: E402
from train.common.metrics import METRIC_NAMES  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "online_shopping_10_cats.csv"
SPLIT_SEED = 0
TRAIN_ROWS = 10000
METRICS = ("test_micro_f1", "test_macro_f1", "test_samples_f1", "test_subset_accuracy", "test_hamming_loss", "dev_micro_f1")


def label_set(category: str, sentiment: str) -> str:
    """The label cell of a review: its category and its sentiment (``1``: positive)."""
    return f"{category}|{'positive' if sentiment.strip() == '1' else 'negative'}"


def write_multilabel_splits(source: Path, directory: Path, train_rows: int | None = None) -> dict[str, str]:
    """Write ``train/dev/test.csv`` (columns text, label; label ``category|sentiment``) under ``directory``: the 80/10/10
    split of ``source`` stratified by label set, training cut to ``train_rows`` stratified rows; return the paths."""
    from data_processor.io import Example
    from data_processor.splits import stratified_split

    with source.open(encoding="utf-8", newline="") as handle:
        rows = [Example(r["review"].strip(), label_set(r["cat"], r["label"]), n)
                for n, r in enumerate(csv.DictReader(handle), start=2) if (r.get("review") or "").strip()]
    train, dev, test = stratified_split(rows, [e.label for e in rows], (0.8, 0.1, 0.1), SPLIT_SEED)
    if train_rows and train_rows < len(train):
        share = train_rows / len(train)
        train = stratified_split(train, [e.label for e in train], (share, 1 - share), SPLIT_SEED)[0]
    paths = {}
    for split, examples in (("train", train), ("dev", dev), ("test", test)):
        paths[split] = str(write_rows(directory / f"shopping-multilabel.{split}.csv", [(e.text, e.label) for e in examples]))
    return paths


def train_once(model: str, seed: int, paths: dict[str, str], overrides: dict, runs: Path) -> dict:
    """One ``run.py --multi-label`` run in its own process; its summary.json, with the wall time."""
    name = f"{model}-seed{seed}"
    cmd = [sys.executable, str(ROOT / "run.py"), "--model", model, "--multi-label", "--train", paths["train"], "--dev", paths["dev"],
           "--test", paths["test"], "--seed", str(seed), "--runs-dir", str(runs), "--run-name", name, "--no-progress"]
    for key, value in overrides.items():
        flag = "--" + key.replace("_", "-")
        cmd += [flag] if value is True else [] if value is False else [flag, str(value)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((runs / name / "summary.json").read_text(encoding="utf-8"))
    return {**summary, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--models", nargs="+", default=["lstm", "tfidf"], help="models to train (default: lstm tfidf)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="training seeds (default: 1)")
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS, help=f"training rows kept (default {TRAIN_ROWS}; 0: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training option for every run, e.g. threshold=per-label")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not SOURCE.is_file():
        print(f"error: {SOURCE} is absent; this benchmark needs the shared online_shopping_10_cats.csv", file=sys.stderr)
        return 2
    overrides = parse_overrides(args.set)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_multilabel_splits(SOURCE, Path(tmp), args.train_rows or None)
        counts = {split: sum(1 for _ in open(path, encoding="utf-8")) - 1 for split, path in paths.items()}
        print(f"shopping multi-label (category|sentiment, 12 labels): {counts['train']} train, {counts['dev']} dev, {counts['test']} test",
              file=sys.stderr)
        for model in args.models:
            for seed in args.seeds:
                summary = train_once(model, seed, paths, overrides, Path(tmp) / "runs")
                results.setdefault(model, []).append(summary)
                print(f"{model} seed {seed}: test micro-F1 {summary['test_micro_f1']:.4f} ({summary['seconds']:.0f}s)", file=sys.stderr)
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}, indent=2))
        return 0
    print(f"machine: {machine()}; options: {overrides or 'defaults'}; seeds: {', '.join(map(str, args.seeds))}\n")
    print("| model | " + " | ".join(f"{m.split('_', 1)[0]} {METRIC_NAMES[m.split('_', 1)[1]]}" for m in METRICS) + " | seconds |")
    print("|---" * (len(METRICS) + 2) + "|")
    for model, runs in results.items():
        cells = []
        for metric in METRICS:
            values = [r[metric] for r in runs]
            cells.append(f"{statistics.mean(values):.4f}" + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""))
        print(f"| {model} | " + " | ".join(cells) + f" | {statistics.mean(r['seconds'] for r in runs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
