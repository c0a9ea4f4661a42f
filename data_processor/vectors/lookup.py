"""Vocabulary -> embedding matrix ``|V| x d``: look each token up in word vectors and report the coverage.

A token's row is its vector in the source: the exact token, else its
lower-cased form, else (FastText sources only) a vector built from its
character n-grams. Tokens not found get a small random vector, normal with
the standard deviation of the found vectors' values (of the first 5,000 found;
0.1 when none is found), drawn from the run's seed; ``<pad>`` is zeros. Matrices read from a file are
cached (see `data_processor.vectors.cache`).

Coverage counts vocabulary tokens other than the specials (``<pad>``,
``<unk>``), and the share of training-token occurrences covered: occurrences
of found tokens over all occurrences in ``Vocab.counts`` (tokens left out of
the vocabulary count as not covered: the model sees them as ``<unk>``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from data_processor.base.messages import Log, log_stderr
from data_processor.vectors import cache as embedding_cache
from data_processor.vectors.files import (
    FoundRows,
    VectorFile,
    read_rows,
    rows_from_keyed_vectors,
)
from data_processor.vocab import PAD, Vocab

MISSING, EXACT, LOWER, SUBWORD = 0, 1, 2, 3
SCALE_ROWS = 5000  # found rows (the first ones) whose standard deviation sets the scale of the random rows



@dataclass
class Embedding:
    """A lookup matrix (float32, one row per vocabulary id) and where its rows came from."""

    matrix: np.ndarray
    source: str
    coverage: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def record(self) -> dict[str, Any]:
        """A JSON-ready description, for the run directory's embedding.json."""
        return {"source": self.source, "dim": self.dim, "coverage": self.coverage, **self.details}


def wanted_words(vocab: Vocab) -> set[str]:
    """The words to look for: every non-special token and its lower-cased form."""
    tokens = [t for t in vocab.itos if t not in vocab.specials]
    return set(tokens) | {t.lower() for t in tokens}


def lookup(vocab: Vocab, found: FoundRows) -> tuple[np.ndarray, np.ndarray]:
    """The found rows in vocabulary order (zeros elsewhere) and each token's status (MISSING, EXACT, LOWER, SUBWORD)."""
    matrix = np.zeros((len(vocab), found.dim), dtype=np.float32)
    status = np.full(len(vocab), MISSING, dtype=np.int8)
    for i, token in enumerate(vocab.itos):
        if token in vocab.specials:
            continue
        if token in found.rows:
            matrix[i], status[i] = found.rows[token], EXACT
        elif token.lower() in found.rows:
            matrix[i], status[i] = found.rows[token.lower()], LOWER
        elif found.subword is not None:
            vector = found.subword(token)
            if np.isfinite(vector).all():
                matrix[i], status[i] = vector, SUBWORD
    return matrix, status


def fill_missing(matrix: np.ndarray, status: np.ndarray, vocab: Vocab, seed: int) -> np.ndarray:
    """A copy of ``matrix`` with seeded random rows for tokens not found and zeros for ``<pad>``."""
    out = matrix.copy()
    found = status != MISSING
    scale = float(matrix[np.flatnonzero(found)[:SCALE_ROWS]].std()) if found.any() else 0.1
    missing = np.flatnonzero(~found)
    rng = np.random.default_rng(seed)
    out[missing] = rng.normal(0.0, scale or 0.1, size=(len(missing), matrix.shape[1])).astype(np.float32)
    if PAD in vocab.stoi:
        out[vocab.stoi[PAD]] = 0.0
    return out


def coverage(vocab: Vocab, status: np.ndarray) -> dict[str, Any]:
    """Tokens found over vocabulary tokens (specials excluded), and training-token occurrences covered."""
    ordinary = np.array([i for i, t in enumerate(vocab.itos) if t not in vocab.specials], dtype=np.int64)
    kinds = {k: int((status[ordinary] == v).sum()) for k, v in (("exact", EXACT), ("lowercase", LOWER), ("subword", SUBWORD))}
    found = sum(kinds.values())
    occurrences = sum(vocab.counts.values())
    covered = sum(vocab.counts.get(vocab.itos[i], 0) for i in ordinary[status[ordinary] != MISSING])
    return {
        "vocab_tokens": len(ordinary), "found": found, **kinds, "missing": len(ordinary) - found,
        "token_coverage": found / len(ordinary) if len(ordinary) else 0.0,
        "occurrences": occurrences, "occurrences_covered": covered,
        "occurrence_coverage": covered / occurrences if occurrences else None,
    }


def describe(cov: dict[str, Any]) -> str:
    """One line of coverage figures."""
    parts = [f"{cov['found']} of {cov['vocab_tokens']} vocabulary tokens found ({cov['token_coverage']:.1%})"]
    extra = [f"{cov[k]} {k}" for k in ("lowercase", "subword") if cov[k]]
    if extra:
        parts[0] += f" [{', '.join(extra)}]"
    if cov["occurrence_coverage"] is not None:
        parts.append(f"covering {cov['occurrence_coverage']:.1%} of training-token occurrences")
    return ", ".join(parts)


def _finish(vocab: Vocab, matrix: np.ndarray, status: np.ndarray, seed: int, source: str, details: dict[str, Any], log: Log) -> Embedding:
    cov = coverage(vocab, status)
    log(f"embedding: {source}: {describe(cov)}")
    if cov["vocab_tokens"] and not cov["found"]:
        log(f"WARNING: none of the {cov['vocab_tokens']} vocabulary tokens has a vector in {source}. The tokenizer probably "
            "differs from the one the vectors were trained with (words vs characters?): try --tokenizer jieba or char "
            "to match the vectors. Every row is random, as with --embedding random.")
    return Embedding(fill_missing(matrix, status, vocab, seed), source, cov, details)


def _through_cache(path: Path, expected: dict[str, Any], build: Callable[[], tuple[np.ndarray, np.ndarray, dict[str, Any]]],
                   what: str, redo: str, log: Log) -> tuple[np.ndarray, np.ndarray, dict[str, Any], bool]:
    """``(matrix, status, meta, from_cache)``: the cache entry at ``path`` when it matches ``expected``, else ``build()``'s, then saved.

    A missing, stale or unreadable entry is rebuilt; one that cannot be
    written is reported (the next run ``redo``es the work) and skipped.
    """
    cached = embedding_cache.load(path, expected)
    if isinstance(cached, tuple):
        log(f"embedding: {what} from the cache {path}")
        return (*cached, True)
    if cached != "none yet":
        log(f"embedding: cache {path} is {cached}; building it again")
    matrix, status, meta = build()
    try:
        embedding_cache.save(path, matrix, status, meta)
    except OSError as exc:
        log(f"embedding: could not write the cache {path} ({exc}); the next run {redo} again")
    return matrix, status, meta, False


def sentences_digest(sentences: Iterable[Sequence[str]]) -> str:
    """The hex SHA-256 of the sentences' tokens, tab-separated, one sentence per line (read once, as they come)."""
    digest = hashlib.sha256()
    for i, sentence in enumerate(sentences):
        digest.update(("\n" if i else "").encode() + "\t".join(sentence).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def embedding_from_training(train: Callable[[], Any], recipe: dict[str, Any], sentences: Iterable[Sequence[str]], vocab: Vocab, seed: int,
                            source: str, cache_dir: str | None = None, log: Log = log_stderr) -> Embedding:
    """The lookup matrix for ``vocab`` from vectors that ``train()`` returns (gensim KeyedVectors), through the cache.

    The cache entry is keyed by ``recipe`` (method, dimension, window, epochs,
    seed...), the training ``sentences`` (read once more for that: a restartable
    iterable) and the vocabulary, so a second run with the same data and
    settings does not train again.
    """
    digest = embedding_cache.tokens_digest(vocab.itos)
    expected = {**recipe, "sentences": sentences_digest(sentences), "vocab": digest, "vocab_size": len(vocab)}
    key = hashlib.sha256(json.dumps(expected, sort_keys=True).encode("utf-8")).hexdigest()[:20]
    path = embedding_cache.cache_dir(cache_dir) / f"trained-{recipe.get('method', 'vectors')}-{key}.npz"

    def build() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        return (*lookup(vocab, rows_from_keyed_vectors(train(), wanted_words(vocab))), expected)

    matrix, status, _, from_cache = _through_cache(path, expected, build, f"{source}: rows for {len(vocab)} tokens", "trains", log)
    return _finish(vocab, matrix, status, seed, source, {"cache": str(path), "from_cache": from_cache}, log)


def embedding_from_file(vectors: VectorFile, vocab: Vocab, seed: int, cache_dir: str | None = None, log: Log = log_stderr) -> Embedding:
    """The lookup matrix for ``vocab`` from a vectors file (see `open_vectors`), through the cache.

    A cache that is missing, stale or unreadable is rebuilt by scanning the
    file; a cache that cannot be written is reported and skipped.
    """
    digest = embedding_cache.tokens_digest(vocab.itos)
    directory = embedding_cache.cache_dir(cache_dir)
    path = embedding_cache.cache_file(directory, vectors.path, digest)
    expected = {**embedding_cache.file_signature(vectors.path), "vocab": digest, "vocab_size": len(vocab),
                "format": vectors.format, "dim": vectors.dim}
    source = f"{vectors.path} ({vectors.format}, {vectors.dim}-d)"

    def build() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        log(f"embedding: scanning {vectors.path} for {len(vocab)} vocabulary tokens...")
        found = read_rows(vectors, wanted_words(vocab))
        meta = {**expected, "rows_read": found.rows_read, "skipped_rows": found.skipped, "first_skipped": found.first_skipped}
        return (*lookup(vocab, found), meta)

    matrix, status, meta, from_cache = _through_cache(path, expected, build, f"rows for {len(vocab)} tokens", "scans the file", log)
    if meta["skipped_rows"]:
        log(f"WARNING: {vectors.path}: skipped {meta['skipped_rows']} wanted rows with the wrong number of values "
            f"(expected {vectors.dim}) or non-finite numbers (first at {meta['first_skipped']})")
    if vectors.count is not None and meta["rows_read"] != vectors.count:
        log(f"WARNING: {vectors.path}: the header announces {vectors.count} rows but the file has {meta['rows_read']}")
    details = {"file": str(vectors.path), "format": vectors.format, "rows_read": meta["rows_read"],
               "skipped_rows": meta["skipped_rows"], "first_skipped": meta["first_skipped"],
               "cache": str(path), "from_cache": from_cache}
    return _finish(vocab, matrix, status, seed, source, details, log)
