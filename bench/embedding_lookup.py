#!/usr/bin/env python
"""Benchmark: the lookup matrix from a big word2vec text file, scanned once, then read from the cache.

Writes a word2vec text file of ``--lines`` rows of ``--dim`` numbers (6
decimals, like the Chinese-Word-Vectors releases: 1,000,000 x 300 is about
2.7 GB) to a temporary directory, picks a vocabulary of ``--vocab`` tokens
(95% of them spread through the file, 5% absent), then builds the matrix twice,
each time in a fresh process: first by scanning the file (which writes the
cache), then from the cache. Prints wall time and peak memory (peak resident
set size of the process, VmHWM, and its growth over the process after imports)
of each, checks a few rows, and deletes the temporary directory.

    python bench/embedding_lookup.py                  # 1,000,000 x 300, 20,000 tokens
    python bench/embedding_lookup.py --lines 100000   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DISTINCT_ROWS = 997  # rows of numbers are reused (row i gets pattern i % 997): writing stays fast, parsing does not get easier


def word(i: int) -> str:
    return f"词{i}"


def memory_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB: VmRSS (now) or VmHWM (peak; unlike
    ru_maxrss, not inherited from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_vectors(path: Path, lines: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    patterns = [" ".join(f"{x:.6f}" for x in row) for row in rng.normal(0, 0.3, size=(DISTINCT_ROWS, dim))]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{lines} {dim}\n")
        for start in range(0, lines, 10000):
            fh.write("".join(f"{word(i)} {patterns[i % DISTINCT_ROWS]} \n" for i in range(start, min(lines, start + 10000))))
    (path.parent / "patterns.json").write_text(json.dumps(patterns[:50]))


def child(vectors: str, cache: str, vocab_file: str) -> None:
    """One timed build in this fresh process; prints a JSON line."""
    sys.path.insert(0, str(ROOT))
    from data_processor.vectors.files import open_vectors
    from data_processor.vectors.lookup import embedding_from_file
    from data_processor.vocab import Vocab

    vocab = Vocab.load(vocab_file)
    base = memory_mb("VmRSS")
    start = time.perf_counter()
    emb = embedding_from_file(open_vectors(vectors), vocab, seed=0, cache_dir=cache, log=lambda message: None)
    seconds = time.perf_counter() - start
    peak = memory_mb("VmHWM")
    patterns = json.loads((Path(vectors).parent / "patterns.json").read_text())
    checked = 0
    for token in vocab.itos:
        if token.startswith("词") and int(token[1:]) % DISTINCT_ROWS < len(patterns):
            expected = np.array(patterns[int(token[1:]) % DISTINCT_ROWS].split(), dtype=np.float32)
            assert np.array_equal(emb.matrix[vocab[token]], expected), token
            checked += 1
    print(json.dumps({"seconds": seconds, "from_cache": emb.details["from_cache"], "peak_rss_mb": peak, "rss_after_imports_mb": base,
                      "found": emb.coverage["found"], "vocab_tokens": emb.coverage["vocab_tokens"], "rows_checked": checked}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--vocab", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, metavar=("VECTORS", "CACHE", "VOCAB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(ROOT))
    from data_processor.vocab import Vocab

    tmp = Path(tempfile.mkdtemp(prefix="embedding-bench-"))
    try:
        vectors = tmp / "vectors.txt"
        start = time.perf_counter()
        write_vectors(vectors, args.lines, args.dim, args.seed)
        print(f"wrote {vectors}: {args.lines:,} lines x {args.dim}, {vectors.stat().st_size / 1e9:.2f} GB, "
              f"in {time.perf_counter() - start:.1f} s")
        rng = np.random.default_rng(args.seed)
        present = rng.choice(args.lines, size=args.vocab * 95 // 100, replace=False)
        tokens = [word(int(i)) for i in present] + [f"缺{i}" for i in range(args.vocab - len(present) - 2)]
        counts = {t: int(c) for t, c in zip(tokens, rng.zipf(1.5, size=len(tokens)))}
        vocab = Vocab(tokens, counts=counts)
        vocab.save(tmp / "vocab.json")
        for label in ("scan (cold cache)", "from the cache"):
            out = subprocess.run([sys.executable, __file__, "--child", str(vectors), str(tmp / "cache"), str(tmp / "vocab.json")],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{label:18s}: {r['seconds']:7.2f} s   peak RSS {r['peak_rss_mb']:7.1f} MB "
                  f"(+{r['peak_rss_mb'] - r['rss_after_imports_mb']:.1f} MB over {r['rss_after_imports_mb']:.1f} MB after imports)   "
                  f"found {r['found']:,} of {r['vocab_tokens']:,}, {r['rows_checked']} rows checked, from_cache={r['from_cache']}")
        print(f"cache file: {sum(p.stat().st_size for p in (tmp / 'cache').iterdir()) / 1e6:.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
