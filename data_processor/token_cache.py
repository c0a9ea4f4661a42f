"""Tokenized corpora cached on disk: a second run on the same texts does no segmentation.

An entry is keyed by a SHA-256 of the texts themselves (in order), the
tokenizer's identity (name, version, options, user dictionary) and the
stopword set, so any change to any of them misses the cache; the same texts
read from another file hit it. An entry is a directory ``<key>/`` holding a
`TokenStore` (see `data_processor.token_store`): it is written into a
temporary directory beside it and renamed into place, read memory-mapped, and
an entry that does not check out (unreadable, another key, wrong counts) is
rebuilt with a warning, never trusted.

The texts stream: one pass over them computes the key (`TextScan`); only on a
miss does a second pass tokenize them, chunk by chunk, over the worker
processes, into the store. Neither pass holds all the texts or all their
tokens. Without a cache directory the store is built the same way in a
temporary directory, whose files are removed as soon as they are mapped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Callable, Iterable, Iterator

from data_processor.base.atomic import usual_permissions
from data_processor.base.errors import DataError, DiskFullError, no_space
from data_processor.base.messages import Log, log_stderr
from data_processor.parallel_tokenize import tokenize_stream, worker_count
from data_processor.stopwords import remove_stopwords
from data_processor.token_store import FORMAT, StoreWriter, TokenStore, read_store
from data_processor.tokenizers import Tokenizer

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "cache" / "tokens"


def cache_dir(setting: str | None) -> Path | None:
    """Where entries go: ``setting`` (``none`` turns the cache off), else ``$TOKEN_CACHE_DIR``, else ``data/cache/tokens``."""
    if setting is not None:
        return None if setting == "none" else Path(setting)
    return Path(os.environ.get("TOKEN_CACHE_DIR") or DEFAULT_DIR)


class TextScan:
    """What one pass over texts learns before tokenizing them: a SHA-256 of them, how many there are, their characters."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.count, self.chars = 0, 0

    def add(self, text: str) -> None:
        """Take in the next text."""
        self._digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        self.count += 1
        self.chars += len(text)

    def key(self, tokenizer: str, stopwords: frozenset[str]) -> str:
        """The hex SHA-256 naming the cache entry of these texts, tokenized by ``tokenizer`` (its identity) minus ``stopwords``."""
        digest = hashlib.sha256(f"{FORMAT}\0{tokenizer}\0".encode("utf-8", "surrogatepass"))
        digest.update("\0".join(sorted(stopwords)).encode("utf-8", "surrogatepass") + b"\1")
        digest.update(f"{self.count}\0{self._digest.hexdigest()}".encode())
        return digest.hexdigest()

    def same_texts(self, other: "TextScan") -> bool:
        """Whether ``other`` scanned the same texts."""
        return (self.count, self._digest.digest()) == (other.count, other._digest.digest())


def scan_texts(texts: Iterable[str]) -> TextScan:
    """One pass over ``texts``."""
    scan = TextScan()
    for text in texts:
        scan.add(text)
    return scan


def cache_key(texts: Iterable[str], tokenizer: str, stopwords: frozenset[str]) -> str:
    """The hex SHA-256 naming the entry of these texts, tokenizer identity and stopwords."""
    return scan_texts(texts).key(tokenizer, stopwords)


def cached_tokens(texts: Iterable[str], tokenize: Tokenizer, tokenizer: str, stopwords: frozenset[str] = frozenset(),
                  directory: Path | None = None, workers: int | None = None, progress: bool = True, name: str = "texts",
                  log: Log = log_stderr, scan: TextScan | None = None) -> TokenStore:
    """``texts`` tokenized (``tokenizer`` names ``tokenize`` and its options) minus ``stopwords``, from the cache when it has them.

    ``texts`` may be a stream that each pass reads again (a file's rows): it
    is read once for the key, unless ``scan`` already did that, and once more
    on a miss. Without a ``directory`` nothing is cached. Segmentation runs
    over ``workers`` processes for large inputs (see `worker_count`).
    """
    start = time.perf_counter()
    scan = scan if scan is not None else scan_texts(texts)
    key = scan.key(tokenizer, stopwords)
    path = directory / key if directory is not None else None
    if path is not None and (path.exists() or path.is_symlink()):
        try:
            store = read_store(path, key)
            log(f"tokens: {name}: {len(store)} texts from the cache ({key[:12]}..., {time.perf_counter() - start:.2f}s)")
            return store
        except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
            text = str(exc)
            why = "it holds pickled objects" if "pickle" in text or "Python objects" in text else (text.splitlines() or [type(exc).__name__])[0]
            log(f"warning: {path}: a damaged token cache entry, not used ({why}); tokenizing again")

    def build(work: Path) -> None:
        _tokenize_into(work, texts, scan, key, tokenize, stopwords, workers, progress, name)

    failure: OSError | None = None
    store = None
    if path is not None:
        try:
            store = _build_entry(path, key, build)
        except OSError as exc:  # a full disk, a read-only directory, a file where the directory should be: not worth stopping for
            failure = exc
    if store is None:
        work = Path(tempfile.mkdtemp(prefix="rnn-toolkit-tokens-"))
        try:
            build(work)
            store = read_store(work, key)
        except OSError as exc:
            if not no_space(exc):
                raise
            raise DiskFullError(work, exc, "the tokens of a corpus are written to disk (to --token-cache, else to this temporary "
                                f"folder{'' if failure is None else ', the cache ' + str(directory) + ' being full too'}): free "
                                "some space and run it again") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)  # the mapped files live on until the store is dropped (POSIX)
    message = f"tokens: {name}: tokenized {scan.count} texts in {time.perf_counter() - start:.1f}s"
    if failure is not None:
        message += f"; warning: could not write the token cache {directory} ({failure.strerror or failure}); the next run segments again"
    elif path is not None:
        message += f", cached in {directory}"
    log(message)
    return store


def _build_entry(path: Path, key: str, build: Callable[[Path], None]) -> TokenStore:
    """Build the entry ``path`` with ``build(directory)`` in a temporary directory beside it, rename it into place
    (replacing a damaged entry), and read it back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=path.parent))
    try:
        usual_permissions(work, 0o777)  # mkdtemp makes the directory private (0700)
        build(work)
        if path.exists() or path.is_symlink():  # the damaged entry: set it aside, then remove it
            aside = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".old", dir=path.parent))
            os.replace(path, aside / "entry")
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(work, path)
        except OSError:
            if not path.is_dir():
                raise
            return read_store(work, key)  # another process has just put the same entry in place: use ours, then drop it
        return read_store(path, key)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tokenize_into(directory: Path, texts: Iterable[str], scan: TextScan, key: str, tokenize: Tokenizer, stopwords: frozenset[str],
                   workers: int | None, progress: bool, name: str) -> None:
    """Tokenize ``texts`` (whose first pass gave ``scan``) into a store in ``directory``; a `DataError` if they changed since."""
    writer = StoreWriter(directory)
    again = TextScan()
    stream = tokenize_stream(_scanning(texts, again), tokenize, worker_count(workers, scan.chars), progress, f"tokenizing {name}",
                             scan.count)
    try:
        with closing(stream):
            for chunk in stream:
                writer.add([remove_stopwords(tokens, stopwords) for tokens in chunk])
    except BaseException:
        writer.abandon()
        raise
    if not again.same_texts(scan):
        writer.abandon()
        raise DataError(f"{name}: the texts changed between two readings (was the file written to meanwhile?); run again")
    writer.finish(key)


def _scanning(texts: Iterable[str], scan: TextScan) -> Iterator[str]:
    """``texts``, each taken in by ``scan`` as it goes by."""
    for text in texts:
        scan.add(text)
        yield text
