#!/usr/bin/env python
"""The speed and accuracy benchmark of the classifier, from one run on one machine.

Prints a table (or, with ``--json``, the same figures as JSON) of:

- segmentation throughput (characters/second): jieba in one process, jieba
  over all cores, the token cache, rjieba (from ``bench/segmentation.py``);
- preprocessing time of the default run with a cold and a warm token cache,
  and its share of a whole run on a cache hit;
- training throughput (samples/second) and seconds per epoch of
  ``--model lstm`` with default settings on reviews-zh;
- the overhead ratio: a real training epoch (training pass, validation,
  keeping the best state) over the same forward+backward+update steps on
  batches built beforehand (pure compute, no data handling); the median of
  three alternated rounds;
- for rnn, gru, lstm (default settings, word2vec embedding included) and tfidf: test accuracy (of the epoch with the best dev
  accuracy, as ``run.py`` reports it), and for the RNNs the training time until
  the test accuracy first reached tfidf's;
- peak resident memory of each measurement (its own process).

Every measurement runs in a fresh process (``--worker NAME``), so peak memory
and caches are its own. The token cache goes to a temporary directory.

    python bench/run_benchmarks.py            # about 15 minutes on 2 cores
    python bench/run_benchmarks.py --quick    # a smoke run on a sample (about 2 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.choices import CLASSIFIER_CELLS as RNN_MODELS  # noqa: E402

QUICK_SAMPLE = 2000  # training rows used by --quick
OVERHEAD_ROUNDS = 3  # real and pure-compute epochs are alternated this many times


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM: unlike ru_maxrss, not inherited across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _config(model: str, quick: bool):
    from train.classify.settings import ClassifierConfig

    return ClassifierConfig(model=model, progress=False, runs_dir=tempfile.mkdtemp(prefix="bench-runs-"),
                            epochs=3 if quick else ClassifierConfig.epochs)


def _prepare(config, quick: bool):
    from train.classify.text_pipeline import prepare_data

    data = prepare_data(config, log=lambda _: None)
    if quick:  # a random sample of the training rows (the built-in split lists one class first)
        import torch

        keep = torch.randperm(data.train.num_rows, generator=torch.Generator().manual_seed(0))[:QUICK_SAMPLE]
        data.train = data.train.subset(keep, shuffle=True, seed=config.seed)
    return data


def worker_prepare(quick: bool) -> dict:
    """Seconds to read, tokenize, encode and batch reviews-zh as the default run does (cache state as found)."""
    config = _config("lstm", quick)
    start = time.perf_counter()
    _prepare(config, quick=False)
    return {"seconds": time.perf_counter() - start}


def worker_train(model: str, quick: bool) -> dict:
    """Train one RNN with default settings, scoring the test set after every epoch (outside the timed part)."""
    from train.classify.embedding import build_embedding, resolve_embedding
    from train.classify.fit import fit
    from train.classify.network import build_model, predict_proba
    from train.common.optim import build_optimizer, build_scheduler
    from train.common.runtime import resolve_device, set_seed, set_threads

    config, vectors = resolve_embedding(_config(model, quick))
    set_seed(config.seed)
    threads = set_threads(config.threads)
    device = resolve_device(config.device)
    data = _prepare(config, quick)
    embedding = build_embedding(config, vectors, data.pipeline.vocab, data.train_tokens, data.tokenize_texts, log=lambda _: None)
    net = build_model(config, data.pipeline.vocab, len(data.pipeline.labels), embedding.matrix if embedding else None).to(device)
    optimizer = build_optimizer(config.optimizer, net.parameters(), config.lr, config.weight_decay, config.momentum)
    test_labels = data.test.labels.numpy()
    test_by_epoch: list[float] = []

    def score_test(record: dict) -> None:
        test_by_epoch.append(float((predict_proba(net, data.test, device).argmax(1) == test_labels).mean()))

    result = fit(net, data.train, data.dev, optimizer, epochs=config.epochs, device=device, clip=config.clip, patience=config.patience,
                 scheduler=build_scheduler(config.schedule, optimizer, config.epochs), on_epoch=score_test, progress=False, log=lambda _: None)
    epochs = [{"epoch": r["epoch"], "seconds": r["seconds"], "dev_accuracy": r["dev_accuracy"], "test_accuracy": t}
              for r, t in zip(result.history, test_by_epoch)]
    seconds = [r["seconds"] for r in result.history]
    return {"model": model, "threads": threads, "train_rows": len(data.train.lengths), "epochs": epochs,
            "best_epoch": result.best_epoch, "test_accuracy": test_by_epoch[result.best_epoch - 1],
            "seconds_per_epoch": sum(seconds) / len(seconds), "samples_per_second": len(data.train.lengths) * len(seconds) / sum(seconds),
            "peak_rss_mb": peak_rss_mb()}


def worker_overhead(quick: bool) -> dict:
    """Real training epochs (`fit`: the training pass, validation, keeping the best state) against the same
    forward+backward+update steps over batches built beforehand, alternated."""
    import torch
    from torch import nn

    from train.classify.embedding import resolve_embedding
    from train.classify.fit import fit
    from train.classify.network import build_model
    from train.common.optim import build_optimizer
    from train.common.runtime import set_seed, set_threads

    config, _ = resolve_embedding(_config("lstm", quick))
    set_seed(config.seed)
    set_threads(config.threads)
    data = _prepare(config, quick)
    net = build_model(config, data.pipeline.vocab, len(data.pipeline.labels))
    optimizer = build_optimizer(config.optimizer, net.parameters(), config.lr, config.weight_decay, config.momentum)
    prebuilt = [(b.tokens.clone(), b.lengths.clone(), b.labels.clone()) for b in data.train]
    loss_fn = nn.CrossEntropyLoss()

    def pure_compute() -> None:
        net.train()
        for tokens, lengths, labels in prebuilt:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(tokens, lengths), labels).backward()
            optimizer.step()

    real, pure = [], []
    for _ in range(OVERHEAD_ROUNDS):
        start = time.perf_counter()
        fit(net, data.train, data.dev, optimizer, epochs=1, device=torch.device("cpu"), clip=config.clip, patience=None,
            progress=False, log=lambda _: None)
        real.append(time.perf_counter() - start)
        start = time.perf_counter()
        pure_compute()
        pure.append(time.perf_counter() - start)
    ratios = sorted(r / p for r, p in zip(real, pure))
    return {"real_epoch_seconds": real, "pure_compute_seconds": pure, "overhead_ratio": ratios[len(ratios) // 2], "peak_rss_mb": peak_rss_mb()}


def worker_tfidf(quick: bool) -> dict:
    """The built-in TF-IDF baseline with default settings."""
    from train.classify.tfidf import train_tfidf

    config = _config("tfidf", quick)
    start = time.perf_counter()
    summary = train_tfidf(config, log=lambda _: None)
    return {"model": "tfidf", "seconds": time.perf_counter() - start, "test_accuracy": summary["test_accuracy"],
            "peak_rss_mb": peak_rss_mb()}


def worker_segmentation(quick: bool) -> dict:
    """Segmentation throughput (see bench/segmentation.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from segmentation import measure

    return measure(size_mb=0.3 if quick else 5.0)


WORKERS = {"prepare": worker_prepare, "overhead": worker_overhead, "tfidf": worker_tfidf, "segmentation": worker_segmentation,
           **{m: (lambda quick, m=m: worker_train(m, quick)) for m in RNN_MODELS}}


def run_worker(name: str, quick: bool, env: dict[str, str]) -> dict:
    """Run one measurement in a fresh process and return its JSON."""
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def collect(quick: bool) -> dict:
    """Every measurement, in an order where caches start cold where that is measured."""
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        env = {**os.environ, "TOKEN_CACHE_DIR": cache, "EMBEDDING_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "quick": quick,
                   "segmentation": run_worker("segmentation", quick, env),
                   "prepare_cold": run_worker("prepare", quick, env), "prepare_warm": run_worker("prepare", quick, env),
                   "overhead": run_worker("overhead", quick, env), "tfidf": run_worker("tfidf", quick, env)}
        for model in RNN_MODELS:
            results[model] = run_worker(model, quick, env)
    lstm, target = results["lstm"], results["tfidf"]["test_accuracy"]
    for model in RNN_MODELS:
        elapsed, reached = 0.0, None
        for epoch in results[model]["epochs"]:
            elapsed += epoch["seconds"]
            if reached is None and epoch["test_accuracy"] >= target:
                reached = elapsed
        results[model]["seconds_to_tfidf_accuracy"] = reached
    warm = results["prepare_warm"]["seconds"]
    results["preprocessing_share_on_cache_hit"] = warm / (warm + sum(e["seconds"] for e in lstm["epochs"]))
    return results


def machine() -> str:
    """CPU model and usable cores, e.g. 'Intel Xeon ... , 2 cores'."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {platform.system()}"


def table(r: dict) -> str:
    """The results as a Markdown table."""
    seg, over = r["segmentation"], r["overhead"]
    rows = [("date / machine", f"{r['date']} / {r['machine']}" + (" (quick)" if r["quick"] else ""))]
    rows += [(f"segmentation: {k}", f"{v:,.0f} chars/s") for k, v in seg["chars_per_second"].items()]
    rows += [(f"segmentation: {k}", f"{v:.2f}x jieba single") for k, v in seg["speedup"].items()]
    rows += [("preprocessing, cold / warm token cache", f"{r['prepare_cold']['seconds']:.1f} s / {r['prepare_warm']['seconds']:.2f} s"),
             ("preprocessing share of a run on a cache hit", f"{100 * r['preprocessing_share_on_cache_hit']:.1f}%"),
             ("lstm training throughput", f"{r['lstm']['samples_per_second']:.0f} samples/s, {r['lstm']['seconds_per_epoch']:.1f} s/epoch "
                                          f"({r['lstm']['threads']} threads)"),
             ("overhead ratio (real epoch / pure compute)", f"{over['overhead_ratio']:.3f}")]
    for model in (*RNN_MODELS, "tfidf"):
        m = r[model]
        extra = ""
        if model in RNN_MODELS:
            reach = m["seconds_to_tfidf_accuracy"]
            extra = f"; best dev at epoch {m['best_epoch']}; reached tfidf's accuracy " + (f"after {reach:.0f} s of training" if reach is not None else "never")
        else:
            extra = f"; {m['seconds']:.1f} s in all"
        rows.append((f"{model} test accuracy", f"{m['test_accuracy']:.4f}{extra}; peak memory {m['peak_rss_mb']:.0f} MB"))
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"] + [f"| {k.ljust(width)} | {v} |" for k, v in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK_SAMPLE} training rows, 3 epochs, a small segmentation input")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.quick)))
        return 0
    results = collect(args.quick)
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
