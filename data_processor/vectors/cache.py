"""Cache of lookup matrices extracted from vectors files, so a second run skips the scan.

One ``.npz`` per (vectors file, vocabulary) pair, named from a hash of the
file's resolved path and of the vocabulary's tokens. Inside, beside the
matrix, a JSON ``meta`` records the file's size and modification time and the
vocabulary hash; a cache whose record differs from the file on disk (the file
changed), or that cannot be read (corrupt, truncated), is reported and
rebuilt, never trusted. Files are written atomically.

The directory is, in order: the ``cache_dir`` argument, ``$EMBEDDING_CACHE_DIR``,
``data/cache/embeddings`` (ignored by git).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from data_processor.base.atomic import atomic_path
from data_processor.corpora import DEFAULT_CACHE_DIR

CACHE_ENV = "EMBEDDING_CACHE_DIR"
VERSION = 1


def cache_dir(explicit: str | Path | None = None) -> Path:
    """The embedding cache directory: ``explicit``, else ``$EMBEDDING_CACHE_DIR``, else ``data/cache/embeddings``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR / "embeddings")


def tokens_digest(tokens: list[str]) -> str:
    """A SHA-256 of a vocabulary's tokens in id order."""
    return hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode("utf-8")).hexdigest()


def file_signature(path: Path) -> dict[str, Any]:
    """What identifies a version of a file without reading it: resolved path, size, modification time (ns)."""
    stat = path.stat()
    return {"file": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_file(directory: Path, vectors_path: Path, vocab_digest: str) -> Path:
    """The cache file for a (vectors file, vocabulary) pair."""
    key = hashlib.sha256(f"{vectors_path.resolve()}\0{vocab_digest}".encode("utf-8")).hexdigest()[:20]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", vectors_path.name)[:60]
    return directory / f"{stem}-{key}.npz"


def load(path: Path, expected: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | str:
    """``(matrix, status, meta)`` from a cache file whose meta matches ``expected``; else why it cannot be used."""
    if not path.is_file():
        return "none yet"
    try:
        with np.load(path, allow_pickle=False) as data:
            matrix, status, meta = data["matrix"], data["status"], json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return f"unreadable ({type(exc).__name__})"
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        return "from another version"
    changed = [k for k, v in expected.items() if meta.get(k) != v]
    if changed:
        return f"stale ({', '.join(changed)} changed)"
    rows = len(status)
    if status.ndim != 1 or matrix.shape != (rows, meta.get("dim")) or matrix.dtype != np.float32 or not np.isfinite(matrix).all():
        return "damaged (wrong shape or values)"
    return matrix, status, meta


def save(path: Path, matrix: np.ndarray, status: np.ndarray, meta: dict[str, Any]) -> None:
    """Write a cache file atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, matrix=np.asarray(matrix, dtype=np.float32), status=status, meta=np.array(json.dumps({"version": VERSION, **meta})))
