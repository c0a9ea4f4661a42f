#!/usr/bin/env python
"""Benchmark: texts per second of an exported ONNX classifier (onnxruntime) against PyTorch, on the same texts, on CPU.

Takes ``--texts`` real reviews from the built-in reviews-zh dataset (its test
split, then dev), and a classifier run: ``--run DIR``, or a bidirectional LSTM
of the default size (``run.py train`` defaults: embedding 128, hidden 256,
max pooling) trained for one epoch on a few hundred reviews here (throughput
does not depend on how well it learnt). Exports it with
``train.inference.export.writer.export_onnx``, then times, in alternating rounds
(medians reported, so a busy spell on a shared machine hits both):

- model only: the run's own padded, length-bucketed batches of token ids
  (made once), through the PyTorch model (``torch.inference_mode``) and
  through the onnxruntime session;
- end to end: texts in, probabilities out, tokenizing included:
  ``Predictor.predict_proba`` against ``OnnxPredictor.predict_proba``.

Both use ``--threads`` intra-op threads (default 1) and the same batch size.
Prints the figures and the onnxruntime / PyTorch ratio, and how far the two
disagree (max |probability difference|).

    python bench/export_throughput.py                   # about a minute on 2 cores
    python bench/export_throughput.py --threads 2       # every core of a 2-core machine
    python bench/export_throughput.py --run runs/NAME --texts 5000 --json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_benchmarks import machine  # noqa: E402

TRAIN_ROWS = 600  # reviews the quick run trains on (one epoch)


def reviews(count: int) -> tuple[list[str], list[tuple[str, str]]]:
    """``count`` texts to score (test split, then dev), and training rows for a quick run (from the train split)."""
    from data_processor.datasets import load_classification_dataset

    splits = load_classification_dataset("reviews-zh")
    texts = [e.text for e in [*splits.test, *splits.dev]][:count]
    if len(texts) < count:
        raise SystemExit(f"reviews-zh has {len(texts)} test and dev texts; ask for at most that many with --texts")
    train = random.Random(0).sample([(e.text, e.label) for e in splits.train], TRAIN_ROWS)
    return texts, train


def quick_run(rows: list[tuple[str, str]], directory: Path, threads: int) -> Path:
    """Train a default-size bidirectional LSTM for one epoch on ``rows`` into ``directory``; return the run directory."""
    import run

    train = directory / "train.csv"
    with open(train, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    with contextlib.redirect_stdout(sys.stderr):  # its summary is not a result of this benchmark
        code = run.main(["--model", "lstm", "--train", str(train), "--runs-dir", str(directory / "runs"), "--run-name", "bench",
                         "--epochs", "1", "--min-steps", "0", "--embedding", "random", "--no-progress", "--threads", str(threads)])
    if code != 0:
        raise SystemExit("training the quick run failed")
    return directory / "runs" / "bench"


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(run_dir: Path, texts: list[str], batch_size: int, threads: int, rounds: int, workdir: Path) -> dict:
    import numpy as np
    import torch

    from train.inference.export.onnx_predictor import OnnxPredictor
    from train.inference.export.writer import export_onnx
    from train.inference.rnn_predictor import Predictor

    torch.set_num_threads(threads)
    files, export_seconds = timed(lambda: export_onnx(run_dir, workdir / "model.onnx"))
    predictor, exported = Predictor(run_dir, "cpu"), OnnxPredictor(files.onnx, threads=threads)
    predictor.batch_size = batch_size
    batches = [(b.tokens, b.lengths, b.index.numpy()) for b in predictor.pipeline.batches(texts, batch_size)]
    arrays = [(t.numpy(), n.numpy()) for t, n, _ in batches]

    def torch_model() -> np.ndarray:
        out = np.zeros((len(texts), len(predictor.label_names)), dtype=np.float32)
        with torch.inference_mode():
            for tokens, lengths, index in batches:
                out[index] = predictor.model.probabilities(predictor.model(tokens, lengths)).numpy()
        return out

    def onnx_model() -> np.ndarray:
        out = np.zeros((len(texts), len(exported.label_names)), dtype=np.float32)
        for (tokens, lengths), (_, _, index) in zip(arrays, batches):
            out[index] = exported.run(tokens, lengths)
        return out

    ways = {
        "model only": {"PyTorch": torch_model, "onnxruntime": onnx_model},
        "end to end (tokenizing included)": {"PyTorch": lambda: predictor.predict_proba(texts),
                                             "onnxruntime": lambda: exported.predict_proba(texts, batch_size)},
    }
    with torch.inference_mode():  # warm up on a few texts: jieba's dictionary, oneDNN and onnxruntime's first-run allocations
        predictor.model(*batches[-1][:2])
    exported.run(*arrays[-1])
    predictor.predict_proba(texts[:64])
    exported.predict_proba(texts[:64])
    seconds: dict[str, dict[str, list[float]]] = {part: {name: [] for name in fns} for part, fns in ways.items()}
    max_diff = 0.0
    for _ in range(rounds):
        for part, fns in ways.items():
            results = {}
            for name, fn in fns.items():
                results[name], took = timed(fn)
                seconds[part][name].append(took)
            max_diff = max(max_diff, float(np.abs(results["PyTorch"] - results["onnxruntime"]).max()))
    figures = {part: {name: len(texts) / statistics.median(times) for name, times in by_name.items()} for part, by_name in seconds.items()}
    return {
        "machine": machine(), "threads": threads, "texts": len(texts), "batch_size": batch_size, "batches": len(batches),
        "mean_tokens": round(float(np.mean([int(n) for _, lengths, _ in batches for n in lengths])), 1),
        "model": {k: getattr(predictor.config, k) for k in ("model", "embed_dim", "hidden_size", "num_layers", "bidirectional", "pooling")},
        "export_seconds": round(export_seconds, 2), "onnx_bytes": files.onnx.stat().st_size, "rounds": rounds,
        "texts_per_second": figures, "ratio": {part: by_name["onnxruntime"] / by_name["PyTorch"] for part, by_name in figures.items()},
        "max_probability_difference": max_diff, "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a trained rnn/gru/lstm run directory (default: train a default-size LSTM for one epoch here)")
    parser.add_argument("--texts", type=int, default=2000, help="how many reviews-zh texts to score")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per batch, for both (predict's default for --batch-size 64)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads, for both (default 1: steady figures on a shared "
                        f"machine; {len(os.sched_getaffinity(0))} would use every usable core)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each measurement, alternating (medians reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    texts, train_rows = reviews(args.texts)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        os.environ.setdefault("TOKEN_CACHE_DIR", str(Path(tmp) / "tokens"))
        run_dir = Path(args.run) if args.run else quick_run(train_rows, Path(tmp), args.threads)
        result = measure(run_dir, texts, args.batch_size, args.threads, args.rounds, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    m = result["model"]
    print(f"{result['machine']}; {result['threads']} threads; {result['texts']:,} reviews-zh texts (mean {result['mean_tokens']} tokens) "
          f"in {result['batches']} batches of up to {result['batch_size']}")
    print(f"model: {m['model']}, embedding {m['embed_dim']}, hidden {m['hidden_size']} x {m['num_layers']} layer(s), "
          f"{'bidirectional' if m['bidirectional'] else 'unidirectional'}, {m['pooling']} pooling; export {result['export_seconds']:.1f} s, "
          f"{result['onnx_bytes'] / 1e6:.1f} MB")
    print(f"{'texts/s (median of ' + str(result['rounds']) + ')':<36} {'PyTorch':>10} {'onnxruntime':>12} {'ratio':>7}")
    for part, by_name in result["texts_per_second"].items():
        print(f"{part:<36} {by_name['PyTorch']:>10,.0f} {by_name['onnxruntime']:>12,.0f} {result['ratio'][part]:>6.2f}x")
    print(f"max |probability difference|: {result['max_probability_difference']:.2e}")


if __name__ == "__main__":
    main()
