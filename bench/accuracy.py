#!/usr/bin/env python
"""Accuracy across datasets: does the recurrent classifier beat the TF-IDF baseline on data it was not tuned on?

For every dataset, every model and every seed, one training run with default
settings (plus any ``--set`` overrides) in a fresh process. The default models
are ``tfidf``, ``lstm+tfidf`` and ``gru+tfidf``: a hybrid run reports its
recurrent model alone as well, so one run gives both the ``lstm`` row and the
``lstm+tfidf`` row (the recurrent model is trained exactly as ``--model lstm``
trains it; the row's time includes the few seconds of the TF-IDF fit). Prints, per dataset and model, the mean ± std
over seeds of test accuracy, test macro-F1 and best dev accuracy, the best-dev
epoch, wall time and peak resident memory, and each model's gap to TF-IDF:
as a Markdown table, or with ``--json`` as JSON.

Datasets (each split 80/10/10, stratified, by the project's own splitter with
the fixed seed `SPLIT_SEED`):

- ``reviews-zh``: the built-in dataset (its own split);
- ``waimai``: ``../shared/data/waimai_10k.csv``, label ``label``;
- ``shopping-cat``: ``../shared/data/online_shopping_10_cats.csv``, label
  ``cat`` (10 unequal categories); training capped at `SHOPPING_CAP`
  stratified rows to keep the benchmark within about an hour on 2 cores;
- small-data regimes ``waimai-1k`` and ``shopping-cat-2k``: 1,000 and 2,000
  stratified training rows of the above, scored on the same dev and test sets.

A shared file that is absent is skipped, with a line saying so. Defaults are
chosen on the mean *dev* accuracy this prints; test is only reported.

    python bench/accuracy.py                       # 3 seeds, every dataset (about an hour on 2 cores)
    python bench/accuracy.py --quick               # 1 seed, the two small regimes
    python bench/accuracy.py --quick --models lstm --set epochs=8 --set dropout=0.3   # try a candidate
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_benchmarks import machine, peak_rss_mb  # noqa: E402
from data_processor.base.atomic import write_text  # noqa: E402
from train.classify.kinds import BASELINE, kind_of  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SPLIT_SEED = 0
SHOPPING_CAP = 10000  # training rows kept of online_shopping's 50k, so that the benchmark fits in about an hour
SEEDS = (1, 2, 3)
MODELS = (BASELINE, "lstm+tfidf", "gru+tfidf")  # each hybrid run also gives its recurrent model's own row


@dataclass(frozen=True)
class Dataset:
    """A benchmark dataset: a shared CSV file, its label column, and how many training rows to keep (None: all)."""

    name: str
    file: str | None  # None: the built-in reviews-zh
    label_col: str = "label"
    train_rows: int | None = None


DATASETS = (
    Dataset("waimai-1k", "waimai_10k.csv", "label", 1000),
    Dataset("shopping-cat-2k", "online_shopping_10_cats.csv", "cat", 2000),
    Dataset("waimai", "waimai_10k.csv"),
    Dataset("shopping-cat", "online_shopping_10_cats.csv", "cat", SHOPPING_CAP),
    Dataset("reviews-zh", None),
)
QUICK_DATASETS = ("waimai-1k", "shopping-cat-2k")


def write_splits(dataset: Dataset, directory: Path) -> dict[str, str]:
    """Split the dataset's file 80/10/10 (stratified, `SPLIT_SEED`), keep ``train_rows`` stratified training rows,
    and write ``train/dev/test.csv`` (columns text, label) under ``directory``; return the run options naming them."""
    from data_processor.io import read_table
    from data_processor.splits import stratified_split

    examples = read_table(SHARED / dataset.file, "review", dataset.label_col, skip_bad_rows=True).examples
    train, dev, test = stratified_split(examples, [e.label for e in examples], (0.8, 0.1, 0.1), SPLIT_SEED)
    if dataset.train_rows is not None and dataset.train_rows < len(train):
        share = dataset.train_rows / len(train)
        train = stratified_split(train, [e.label for e in train], (share, 1 - share), SPLIT_SEED)[0]
    paths = {}
    for split, rows in (("train", train), ("dev", dev), ("test", test)):
        path = directory / f"{dataset.name}.{split}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((e.text, e.label) for e in rows)
        paths[split] = str(path)
    return paths


def worker(options: dict) -> dict[str, dict]:
    """Train one model with ``options`` (ClassifierConfig fields) and return its figures, by model name.

    A hybrid run (``lstm+tfidf``) gives two rows: the fused model, and its recurrent model alone (``lstm``),
    whose figures the run reports beside the fused ones; the time is the whole run's.
    """
    from train.classify.settings import ClassifierConfig

    config = ClassifierConfig.from_dict(options, "benchmark options")
    start = time.perf_counter()
    kind = kind_of(config.model)
    summary = kind.train_function()(config, log=lambda _: None)
    common = {"best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"], "seconds": time.perf_counter() - start,
              "peak_rss_mb": peak_rss_mb()}
    rows = {config.model: {"test_accuracy": summary["test_accuracy"], "test_macro_f1": summary["test_macro_f1"],
                           "dev_accuracy": summary["best_dev_accuracy"], **common}}
    if kind.fused:
        rows[config.cell] = {"test_accuracy": summary["rnn_test_accuracy"], "test_macro_f1": summary["rnn_test_macro_f1"],
                             "dev_accuracy": summary["rnn_dev_accuracy"], **common}
    return rows


def run_worker(options: dict, env: dict[str, str]) -> dict[str, dict]:
    """One training run in a fresh process (so its peak memory is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(options)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def parse_overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs (keys as ClassifierConfig fields or option names) with JSON values where they parse."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set {pair!r}: expected KEY=VALUE, e.g. epochs=8")
        try:
            overrides[key.strip().lstrip("-").replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip().lstrip("-").replace("-", "_")] = value
    return overrides


def collect(datasets: list[Dataset], models: list[str], seeds: list[int], overrides: dict, save: Path | None = None) -> dict:
    """Every (dataset, model, seed) run; the token, embedding and encoder caches start cold and are shared by the runs
    (so the first run with ``--set encoder=peoples-daily`` pays for pretraining the general-domain encoder).

    With ``save``, the results so far are written there (JSON) after every run, so a long benchmark that is
    stopped early still leaves its figures."""
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "seeds": seeds, "overrides": overrides, "datasets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "TOKEN_CACHE_DIR": str(tmp_path / "tokens"), "EMBEDDING_CACHE_DIR": str(tmp_path / "embeddings"),
               "ENCODER_CACHE_DIR": str(tmp_path / "encoders"), "PYTHONPATH": str(ROOT)}
        for dataset in datasets:
            if dataset.file is not None and not (SHARED / dataset.file).is_file():
                print(f"[bench] {dataset.name}: skipped, {SHARED / dataset.file} is absent", file=sys.stderr, flush=True)
                continue
            files = {} if dataset.file is None else write_splits(dataset, tmp_path)
            runs: dict[str, list[dict]] = {}
            results["datasets"][dataset.name] = runs
            for model in models:
                for seed in seeds:
                    print(f"[bench] {dataset.name} {model} seed {seed} ...", file=sys.stderr, flush=True)
                    options = {**files, "model": model, "seed": seed, "progress": False, "runs_dir": str(tmp_path / "runs"),
                               **(overrides if kind_of(model).recurrent else {})}
                    for row, record in run_worker(options, env).items():
                        print(f"[bench]   {row}: dev {record['dev_accuracy']:.4f} test {record['test_accuracy']:.4f} "
                              f"({record['seconds']:.0f} s, best epoch {record['best_epoch']})", file=sys.stderr, flush=True)
                        runs.setdefault(row, []).append(record)
                    if save is not None:
                        write_text(save, json.dumps(results, indent=2))
    return results


def merge(parts: list[dict]) -> dict:
    """Several results of `collect` as one: the runs of each dataset and model put together."""
    merged = {**parts[0], "datasets": {}}
    for part in parts:
        for name, runs in part["datasets"].items():
            for model, records in runs.items():
                merged["datasets"].setdefault(name, {}).setdefault(model, []).extend(records)
    merged["seeds"] = sorted({s for part in parts for s in part["seeds"]})
    return merged


def summarise(records: list[dict], key: str) -> tuple[float, float]:
    """Mean and standard deviation (0 for one record) of ``key``."""
    values = [r[key] for r in records]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(results: dict) -> str:
    """The results as a Markdown table, with each model's mean test-accuracy gap to tfidf in points."""
    lines = [f"{results['date']} / {results['machine']} / seeds {results['seeds']}"
             + (f" / overrides {results['overrides']}" if results["overrides"] else ""), "",
             "| dataset | model | test acc | test macro-F1 | dev acc | best epoch | gap to tfidf (test, pts) | seconds | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    mean_dev: dict[str, list[float]] = {}
    for name, runs in results["datasets"].items():
        baseline = summarise(runs[BASELINE], "test_accuracy")[0] if BASELINE in runs else None
        for model, records in sorted(runs.items(), key=lambda item: (item[0] != BASELINE, kind_of(item[0]).fused, item[0])):
            acc, f1, dev = (summarise(records, k) for k in ("test_accuracy", "test_macro_f1", "dev_accuracy"))
            mean_dev.setdefault(model, []).append(dev[0])
            gap = "" if baseline is None or model == BASELINE else f"{100 * (acc[0] - baseline):+.2f}"
            lines.append(f"| {name} | {model} | {acc[0]:.4f} ± {acc[1]:.4f} | {f1[0]:.4f} ± {f1[1]:.4f} | {dev[0]:.4f} ± {dev[1]:.4f} | "
                         f"{statistics.fmean(r['best_epoch'] for r in records):.1f} / {statistics.fmean(r['epochs_run'] for r in records):.1f} | "
                         f"{gap} | {statistics.fmean(r['seconds'] for r in records):.0f} | {max(r['peak_rss_mb'] for r in records):.0f} |")
    lines += ["", "mean dev accuracy over datasets: " + ", ".join(f"{m} {statistics.fmean(v):.4f}" for m, v in mean_dev.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--quick", action="store_true", help=f"one seed and the small regimes only ({', '.join(QUICK_DATASETS)})")
    parser.add_argument("--datasets", help=f"comma-separated subset of: {', '.join(d.name for d in DATASETS)}")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models (default: %(default)s)")
    parser.add_argument("--seeds", help=f"comma-separated seeds (default: {','.join(map(str, SEEDS))}; --quick: {SEEDS[0]})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the recurrent models' runs (a run.py option, e.g. epochs=8); repeatable")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--save", type=Path, metavar="FILE", help="write the results so far to FILE (JSON) after every run")
    parser.add_argument("--from-json", nargs="+", metavar="FILE",
                        help="train nothing: print the table of saved --json results, merged (e.g. two halves run side by side)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.from_json:
        results = merge([json.loads(Path(f).read_text(encoding="utf-8")) for f in args.from_json])
        print(json.dumps(results, indent=2) if args.json else table(results))
        return 0
    by_name = {d.name: d for d in DATASETS}
    names = args.datasets.split(",") if args.datasets else (list(QUICK_DATASETS) if args.quick else list(by_name))
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([SEEDS[0]] if args.quick else list(SEEDS))
    results = collect([by_name[n] for n in names], args.models.split(","), seeds, parse_overrides(args.set), args.save)
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
