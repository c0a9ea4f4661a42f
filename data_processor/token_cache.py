"""Tokenized corpora cached on disk: a second run on the same texts does no segmentation.

An entry is keyed by a SHA-256 of the texts themselves, the tokenizer's
identity (name, version, options, user dictionary) and the stopword set, so
any change to any of them misses the cache; the same texts read from another
file (or a held-out split drawn again with the same seed) hit it. An entry is
one ``.npz`` (no pickle): the distinct tokens as one UTF-8 blob with offsets,
and every text's token ids with offsets. It is written atomically, and an
entry that does not check out (unreadable, another key, wrong counts) is
rebuilt with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.atomic import atomic_path
from data_processor.messages import Log, log_stderr
from data_processor.parallel_tokenize import tokenize_all
from data_processor.stopwords import remove_stopwords
from data_processor.tokenizers import Tokenizer

FORMAT = "rnn-toolkit-tokens/1"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "cache" / "tokens"


def cache_dir(setting: str | None) -> Path | None:
    """Where entries go: ``setting`` (``none`` turns the cache off), else ``$TOKEN_CACHE_DIR``, else ``data/cache/tokens``."""
    if setting is not None:
        return None if setting == "none" else Path(setting)
    return Path(os.environ.get("TOKEN_CACHE_DIR") or DEFAULT_DIR)


def cache_key(texts: Sequence[str], tokenizer: str, stopwords: frozenset[str]) -> str:
    """The hex SHA-256 naming the entry of these texts, tokenizer identity and stopwords."""
    digest = hashlib.sha256(f"{FORMAT}\0{tokenizer}\0{len(texts)}\0".encode())
    digest.update("\0".join(sorted(stopwords)).encode("utf-8", "surrogatepass") + b"\1")
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def encode_entry(token_lists: Sequence[Sequence[str]], key: str) -> dict[str, np.ndarray]:
    """The arrays of an entry: distinct tokens (blob + offsets) and each text's ids (ids + offsets)."""
    table: dict[str, int] = {}
    ids = [table.setdefault(t, len(table)) for tokens in token_lists for t in tokens]
    encoded = [t.encode("utf-8", "surrogatepass") for t in table]
    return {
        "key": np.array(key),
        "blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "token_offsets": np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64),
        "ids": np.array(ids, dtype=np.int32),
        "text_offsets": np.cumsum([0] + [len(t) for t in token_lists], dtype=np.int64),
    }


def decode_entry(arrays: dict[str, np.ndarray], key: str, count: int) -> list[list[str]]:
    """The token lists an entry holds; ValueError if it is not the entry of ``key`` for ``count`` texts."""
    if str(arrays["key"]) != key:
        raise ValueError("it belongs to other texts or settings")
    blob, token_offsets = arrays["blob"].tobytes(), arrays["token_offsets"].tolist()
    ids, text_offsets = arrays["ids"], arrays["text_offsets"].tolist()
    if len(text_offsets) != count + 1 or text_offsets[-1] != len(ids) or token_offsets[-1] != len(blob):
        raise ValueError("its counts do not add up")
    if len(ids) and (ids.min() < 0 or ids.max() >= len(token_offsets) - 1):
        raise ValueError("a token id is out of range")
    table = [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(token_offsets, token_offsets[1:])]
    flat = [table[i] for i in ids.tolist()]
    return [flat[a:b] for a, b in zip(text_offsets, text_offsets[1:])]


def cached_tokens(texts: Sequence[str], tokenize: Tokenizer, tokenizer: str, stopwords: frozenset[str] = frozenset(),
                  directory: Path | None = None, workers: int | None = None, progress: bool = True, name: str = "texts",
                  log: Log = log_stderr) -> list[list[str]]:
    """``texts`` tokenized (``tokenizer`` names ``tokenize`` and its options) minus ``stopwords``, from the cache when it has them.

    Without a ``directory`` nothing is cached. Segmentation runs over
    ``workers`` processes for large inputs (see `tokenize_all`).
    """
    start = time.perf_counter()
    key = cache_key(texts, tokenizer, stopwords) if directory is not None else ""
    path = directory / f"{key}.npz" if directory is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                tokens = decode_entry({k: data[k] for k in data.files}, key, len(texts))
            log(f"tokens: {name}: {len(texts)} texts from the cache ({path.name[:12]}..., {time.perf_counter() - start:.2f}s)")
            return tokens
        except (ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            why = "it holds pickled objects" if "pickle" in str(exc) else (str(exc).splitlines() or [type(exc).__name__])[0]
            log(f"warning: {path}: a damaged token cache entry, not used ({why}); tokenizing again")
    tokens = [remove_stopwords(t, stopwords) for t in tokenize_all(texts, tokenize, workers, progress, desc=f"tokenizing {name}")]
    message = f"tokens: {name}: tokenized {len(texts)} texts in {time.perf_counter() - start:.1f}s"
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **encode_entry(tokens, key))
            message += f", cached in {path.parent}"
        except OSError as exc:  # a full disk, a read-only directory, a file where the directory should be: not worth stopping for
            message += f"; warning: could not write the token cache {path.parent} ({exc.strerror or exc}); the next run segments again"
    log(message)
    return tokens
