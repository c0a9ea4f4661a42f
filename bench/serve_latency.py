#!/usr/bin/env python
"""Benchmark: latency and throughput of ``python run.py serve`` over real HTTP, on real reviews.

Starts ``python run.py serve`` on a run (``--run``, or one it trains first: by
default an LSTM of the default size, 128-d embeddings and 256 hidden units
each way, for one epoch on ``--train-rows`` reviews with random embeddings;
latency depends on the model's size, not on how well it was trained), waits
for ``/health``, and then, with texts from the reviews-zh test split:

- single-text latency: ``--requests`` sequential ``POST /predict {"text": ...}``
  on one keep-alive connection (after ``--warmup`` unmeasured ones): p50, p95,
  mean and max in milliseconds;
- concurrent single-text requests: the same number of requests from
  ``--concurrency`` client threads at once: requests per second, and how many
  texts the server's batcher put into each model call on average;
- a batched request: ``--batch`` texts in one ``{"texts": [...]}`` request,
  ``--batch-repeats`` times: texts per second (median).

With ``--screenshot PATH`` it then opens the server's page in a headless
chromium (playwright), classifies a review and saves a picture of the page.

    python bench/serve_latency.py                                # train a default-size LSTM on 3,000 reviews, then measure
    python bench/serve_latency.py --run runs/lstm-20261126-101500 --requests 500 --json
    python bench/serve_latency.py --server-options="--threads 1 --batch-wait-ms 0"
    python bench/serve_latency.py --screenshot docs/serve.png
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import write_rows  # noqa: E402
from data_processor.datasets import load_classification_dataset  # noqa: E402

DEFAULT_MODEL = "--model lstm --epochs 1 --min-steps 0 --embedding random --no-progress"
SCREENSHOT_TEXT = "这家酒店位置很好，房间干净，服务员态度也很热情，下次还会再来。"


def train_run(directory: Path, rows: int, options: str, seed: int) -> Path:
    """Train a run on ``rows`` reviews of the reviews-zh training split (dev and test: 500 each); its directory."""
    splits = load_classification_dataset("reviews-zh")
    rng = random.Random(seed)
    pick = lambda examples, n: [(e.text, e.label) for e in rng.sample(list(examples), min(n, len(examples)))]  # noqa: E731
    files = {name: write_rows(directory / f"{name}.csv", pick(examples, n))
             for name, examples, n in (("train", splits.train, rows), ("dev", splits.dev, 500), ("test", splits.test, 500))}
    command = [sys.executable, str(ROOT / "run.py"), *shlex.split(options), "--train", str(files["train"]), "--dev", str(files["dev"]),
               "--test", str(files["test"]), "--runs-dir", str(directory / "runs"), "--run-name", "bench"]
    print(f"training: {' '.join(shlex.quote(c) for c in command[1:])}", file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=sys.stderr)
    print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return directory / "runs" / "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: object = None) -> dict:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        self.connection.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = self.connection.getresponse()
        answer = json.loads(response.read().decode("utf-8"))
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {answer}")
        return answer

    def close(self) -> None:
        self.connection.close()


def start_server(run: Path, port: int, options: str) -> subprocess.Popen:
    """``run.py serve`` on ``port``, once ``/health`` answers."""
    command = [sys.executable, str(ROOT / "run.py"), "serve", "--run", str(run), "--port", str(port), "--no-access-log",
               *shlex.split(options)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=sys.stderr)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            client = Client(port)
            client.call("GET", "/health")
            client.close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not answer /health in 180 s")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between the sorted values."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def sequential(port: int, texts: list[str], warmup: int) -> list[float]:
    """Milliseconds of each single-text request, one after another on one connection."""
    client = Client(port)
    try:
        for text in texts[:warmup]:
            client.call("POST", "/predict", {"text": text})
        times = []
        for text in texts:
            start = time.perf_counter()
            client.call("POST", "/predict", {"text": text})
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        client.close()


def concurrent(port: int, texts: list[str], threads: int) -> tuple[float, float]:
    """(requests per second, texts per model call) for single-text requests from ``threads`` clients at once."""
    info = Client(port)
    before = info.call("GET", "/info")["served"]
    shares = [texts[i::threads] for i in range(threads)]

    def worker(share: list[str]) -> None:
        client = Client(port)
        try:
            for text in share:
                client.call("POST", "/predict", {"text": text})
        finally:
            client.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, shares))
    seconds = time.perf_counter() - start
    after = info.call("GET", "/info")["served"]
    info.close()
    calls = after["predictor_calls"] - before["predictor_calls"]
    return len(texts) / seconds, (after["texts"] - before["texts"]) / max(calls, 1)


def batched(port: int, texts: list[str], repeats: int) -> float:
    """Texts per second of one request holding all ``texts`` (median of ``repeats``)."""
    client = Client(port)
    try:
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            answer = client.call("POST", "/predict", {"texts": texts})
            rates.append(len(answer["predictions"]) / (time.perf_counter() - start))
        return statistics.median(rates)
    finally:
        client.close()


def screenshot(port: int, path: Path) -> None:
    """Classify a review on the server's page in headless chromium and save a picture of the page."""
    from playwright.sync_api import sync_playwright

    browser_path = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if browser_path is None:
        raise SystemExit("--screenshot needs chromium (apt-get install -y chromium)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, headless=True)
        try:
            page = browser.new_page(viewport={"width": 820, "height": 520}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('model').textContent.includes('model')")
            page.fill("#text", SCREENSHOT_TEXT)
            page.click("#classify")
            page.wait_for_selector("#result .bar-row")
            page.wait_for_timeout(600)  # the bars' transition
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
    print(f"written: {path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run", type=Path, help="a trained classifier run (default: train one first, see --train-rows)")
    parser.add_argument("--train-rows", type=int, default=3000, help="reviews to train the run on, without --run")
    parser.add_argument("--model-options", default=DEFAULT_MODEL, help="training options of that run")
    parser.add_argument("--server-options", default="", help="more options for run.py serve, e.g. '--threads 1'")
    parser.add_argument("--requests", type=int, default=200, help="single-text requests measured")
    parser.add_argument("--warmup", type=int, default=10, help="single-text requests sent first and not measured")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads sending single-text requests at once")
    parser.add_argument("--batch", type=int, default=500, help="texts in the batched request (at most the server's --max-texts)")
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="also save a picture of the page with a prediction")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    splits = load_classification_dataset("reviews-zh")
    pool = [e.text for e in splits.test if e.text.strip() and len(e.text) <= 2000]
    random.Random(args.seed).shuffle(pool)
    need = max(args.requests + args.warmup, args.batch)
    texts = (pool * (need // len(pool) + 1))[:need]
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        run = args.run or train_run(Path(tmp), args.train_rows, args.model_options, args.seed)
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        port = free_port()
        server = start_server(run, port, args.server_options)
        try:
            latencies = sequential(port, texts[:args.requests + args.warmup], args.warmup)
            latencies = latencies[-args.requests:]
            rps, per_call = concurrent(port, texts[:args.requests], args.concurrency)
            rate = batched(port, texts[:args.batch], args.batch_repeats)
            if args.screenshot:
                screenshot(port, args.screenshot)
        finally:
            server.terminate()
            server.wait(timeout=30)
    model = {k: config.get(k) for k in ("model", "embed_dim", "hidden_size", "num_layers", "bidirectional", "tokenizer")}
    result = {
        "model": model,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "server_options": args.server_options,
        "single": {"requests": len(latencies), "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                   "mean_ms": statistics.fmean(latencies), "max_ms": max(latencies),
                   "mean_chars": statistics.fmean(len(t) for t in texts[args.warmup:args.warmup + args.requests])},
        "concurrent": {"clients": args.concurrency, "requests_per_s": rps, "texts_per_model_call": per_call},
        "batched": {"texts": args.batch, "texts_per_s": rate},
    }
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    s, c, b = result["single"], result["concurrent"], result["batched"]
    print(f"model: {model['model']}, embed {model['embed_dim']}, hidden {model['hidden_size']} x {model['num_layers']} layer(s)"
          f"{', bidirectional' if model['bidirectional'] else ''}, tokenizer {model['tokenizer']}; {result['cores']} cores")
    print(f"single text, {s['requests']} sequential requests (mean {s['mean_chars']:.0f} characters): p50 {s['p50_ms']:.1f} ms, "
          f"p95 {s['p95_ms']:.1f} ms, mean {s['mean_ms']:.1f} ms, max {s['max_ms']:.1f} ms")
    print(f"single text, {c['clients']} concurrent clients: {c['requests_per_s']:.0f} requests/s, "
          f"{c['texts_per_model_call']:.1f} texts per model call")
    print(f"one request of {b['texts']} texts: {b['texts_per_s']:.0f} texts/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
