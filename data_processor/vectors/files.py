"""Word-vector files: recognise the format, then read only the rows a vocabulary needs.

Formats (those gensim's ``KeyedVectors`` reads and writes):

* ``word2vec-text``: a first line ``count dim``, then ``word v1 ... vdim`` per line;
* ``word2vec-binary``: the same header, then per row ``word``, a space and
  ``dim`` little-endian float32 numbers (a newline before the word is allowed);
* ``glove``: ``word v1 ... vdim`` per line, no header (the dimension is the
  first row's);
* ``gensim``: a pickle written by ``KeyedVectors.save``, ``Word2Vec.save`` or
  ``FastText.save``. Unpickling can run code, so such a file is read only when
  it is named ``.kv`` or ``.model`` and the caller opts in (``trust_pickle``,
  the ``--trust-pickle`` flag); a pickle is never recognised by content alone.

Files ending in ``.gz`` or ``.bz2`` are decompressed while read.

Text and binary files are *streamed*: each row's word is read first, and its
numbers are parsed only when the vocabulary wants that word, so memory holds
the wanted rows and nothing else (a 1M x 300 file costs ~25 MB for a 20k
vocabulary, not the 1.2 GB gensim's ``load_word2vec_format`` would allocate;
its ``limit=`` reads only the first rows, which misses the rarer words of a
frequency-sorted file, so it is not used). Words are decoded as UTF-8 with
undecodable bytes dropped (gensim's ``unicode_errors='ignore'``). Wanted rows
with the wrong number of values or non-finite numbers are skipped and counted.
gensim files are opened with ``mmap='r'``, so their arrays stay on disk.
"""

from __future__ import annotations

import bz2
import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from data_processor.base.errors import DataError, where

FORMATS = ("word2vec-text", "word2vec-binary", "glove", "gensim")
FORMAT_HINT = ("expected word2vec text (first line 'count dim'), word2vec binary, GloVe text "
               "('word v1 v2 ...' per line, no header) or a gensim .kv/.model file")
_HEADER = re.compile(rb"\s*(\d+)\s+(\d+)\s*")
_BOM = b"\xef\xbb\xbf"
_MAX_LINE = 1 << 22  # bytes read while sniffing a line: far longer than any row
_CHUNK = 1 << 20
# what reading a damaged file raises: zlib.error comes from a .gz file whose compressed data is corrupt
_READ_ERRORS = (OSError, EOFError, zlib.error)


GENSIM_SUFFIXES = (".kv", ".model")
CONVERT_HINT = ("or convert it once to word2vec text, read without unpickling: in Python, "
                "gensim.models.KeyedVectors.load(FILE).save_word2vec_format(FILE + '.txt') (a Word2Vec/FastText .model: "
                "Word2Vec.load(FILE).wv.save_word2vec_format(...))")


@dataclass(frozen=True)
class VectorFile:
    """A recognised vectors file: its format, its dimension (None: a gensim file not yet unpickled) and, for word2vec
    files, the row count its header announces."""

    path: Path
    format: str
    dim: int | None
    count: int | None = None


@dataclass
class FoundRows:
    """The rows of a vectors source that a vocabulary asked for."""

    dim: int
    rows: dict[str, np.ndarray]
    subword: Callable[[str], np.ndarray] | None = None  # FastText: a vector for any word, from its character n-grams
    rows_read: int = 0  # rows seen in the source
    skipped: int = 0  # wanted rows dropped: wrong number of values or non-finite numbers
    first_skipped: str | None = None  # "file:line" of the first dropped row


def _open(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def _floats(fields: list[bytes]) -> np.ndarray | None:
    """The numbers of a row as float32, or None when one is not a number."""
    try:
        return np.array([float(x) for x in fields], dtype=np.float32)
    except ValueError:
        return None


def _is_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def gensim_suffix(path: Path) -> str:
    """The suffix that names a file's kind, a compression suffix aside (``v.kv.gz`` -> ``.kv``)."""
    name = path.with_suffix("") if path.suffix.lower() in (".gz", ".bz2") else path
    return name.suffix.lower()


def check_pickle(path: Path, trust_pickle: bool) -> None:
    """Allow unpickling ``path`` only when it is named ``.kv``/``.model`` and ``trust_pickle`` is set; a `DataError` otherwise."""
    if gensim_suffix(path) not in GENSIM_SUFFIXES:
        raise DataError(f"{path}: a Python pickle not named .kv or .model; it is not read, since unpickling can run code. "
                        f"Word vectors go in word2vec or GloVe text: {FORMAT_HINT}")
    if not trust_pickle:
        raise DataError(f"{path}: a gensim pickle; unpickling can run code, so it is read only with --trust-pickle "
                        f"(for files you trust), {CONVERT_HINT}")


def open_vectors(path: str | Path, trust_pickle: bool = False, unpickle: bool = True) -> VectorFile:
    """Recognise a vectors file from its first rows; a `DataError` says what is wrong with one that is not.

    A gensim pickle is accepted only as `check_pickle` allows; with ``unpickle=False`` (a dry run) it is not
    opened, and its dimension is left unknown (None).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such vectors file; --embedding takes random, word2vec, fasttext or the path of a vectors file")
    if not path.is_file():
        raise DataError(f"{path}: is a directory, not a vectors file")
    try:
        with _open(path) as fh:
            first = fh.readline(_MAX_LINE)
            second = fh.readline(_MAX_LINE)
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    if _is_pickle(first):
        check_pickle(path, trust_pickle)
        return VectorFile(path, "gensim", load_keyed_vectors(path).vector_size if unpickle else None)
    first = first.removeprefix(_BOM)
    if not first.strip():
        raise DataError(f"{path}: is empty or starts with a blank line; {FORMAT_HINT}")
    header = _HEADER.fullmatch(first)
    if header:
        count, dim = int(header.group(1)), int(header.group(2))
        if dim < 1:
            raise DataError(f"{where(path, 1)}: the header 'count dim' gives dimension {dim}; it must be at least 1")
        fields = second.split()
        values = _floats(fields[1:]) if len(fields) >= 2 else None
        if values is not None and len(values) != dim:
            raise DataError(f"{where(path, 2)}: the header (line 1) says {dim} values per row, but this row has {len(values)}; "
                            "fix the header's dimension or the file")
        if values is not None or (len(fields) > dim + 1 and _floats(fields[-dim:]) is not None):  # the latter: a word with spaces
            return VectorFile(path, "word2vec-text", dim, count)
        if count == 0 or _looks_binary(path, dim):
            return VectorFile(path, "word2vec-binary", dim, count)
        raise DataError(f"{where(path, 2)}: after the header 'count dim', neither a text row "
                        f"('word' and {dim} numbers) nor a binary row; {FORMAT_HINT}")
    fields = first.split()
    values = _floats(fields[1:]) if len(fields) >= 2 else None
    if values is None:
        raise DataError(f"{where(path, 1)}: not a vectors file: {FORMAT_HINT}")
    return VectorFile(path, "glove", len(values))


def _looks_binary(path: Path, dim: int) -> bool:
    """Whether the first row after the header reads as a binary word2vec row: a word, a space, dim finite float32."""
    try:
        with _open(path) as fh:
            fh.readline(_MAX_LINE)
            data = fh.read(1000 + 4 * min(dim, _MAX_LINE))  # an absurd header dimension must not size the read
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    space = data.find(b" ")
    if space < 0 or len(data) < space + 1 + 4 * dim:
        return False
    return bool(np.isfinite(np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)).all())


def load_keyed_vectors(path: Path):
    """A gensim KeyedVectors from a .kv file, or the ``wv`` of a saved Word2Vec/FastText model (unpickles: see `check_pickle`)."""
    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    compressed = path.suffix.lower() in (".gz", ".bz2")
    try:
        obj = SaveLoad.load(str(path), mmap=None if compressed else "r")
    except Exception as exc:  # unpickling raises many types for a damaged or foreign file
        raise DataError(f"{path}: not a readable gensim file ({type(exc).__name__}: {exc}); {FORMAT_HINT}") from None
    kv = getattr(obj, "wv", obj)
    if not isinstance(kv, KeyedVectors):
        raise DataError(f"{path}: a gensim {type(obj).__name__}, which holds no word vectors; {FORMAT_HINT}")
    return kv


def rows_from_keyed_vectors(kv, wanted: set[str]) -> FoundRows:
    """The wanted rows of a gensim KeyedVectors; FastText vectors also give subword vectors for the rest."""
    found = FoundRows(kv.vector_size, {}, rows_read=len(kv.index_to_key))
    for word in wanted:
        i = kv.key_to_index.get(word)
        if i is None:
            continue
        vector = np.array(kv.vectors[i], dtype=np.float32)
        if np.isfinite(vector).all():
            found.rows[word] = vector
        else:
            found.skipped += 1
            found.first_skipped = found.first_skipped or f"row {i} ({word!r})"
    if getattr(kv, "bucket", 0) > 0 and getattr(kv, "vectors_ngrams", None) is not None:
        found.subword = lambda word: np.array(kv.get_vector(word), dtype=np.float32)
    return found


def read_rows(vectors: VectorFile, wanted: set[str]) -> FoundRows:
    """Read the rows of ``vectors`` whose word is in ``wanted`` (the first row of a repeated word wins)."""
    if vectors.format == "gensim":
        return rows_from_keyed_vectors(load_keyed_vectors(vectors.path), wanted)
    found = FoundRows(vectors.dim, {})
    try:
        with _open(vectors.path) as fh:
            if vectors.format == "word2vec-binary":
                _read_binary(fh, vectors, wanted, found)
            else:
                _read_text(fh, vectors, wanted, found)
    except _READ_ERRORS as exc:
        raise DataError(f"{vectors.path}: cannot be read ({exc})") from None
    return found


def _skip(found: FoundRows, path: Path, line: int) -> None:
    found.skipped += 1
    if found.first_skipped is None:
        found.first_skipped = where(path, line)


def _read_text(fh: IO[bytes], vectors: VectorFile, wanted: set[str], found: FoundRows) -> None:
    dim, rows = vectors.dim, found.rows
    lines: Iterator[bytes] = iter(fh)
    start = 1
    if vectors.format == "word2vec-text":
        next(lines, None)
        start = 2
    for number, raw in enumerate(lines, start=start):
        if number == 1:
            raw = raw.removeprefix(_BOM)
        head = raw.split(None, 1)
        if not head:
            continue
        found.rows_read += 1
        word = head[0].decode("utf-8", "ignore")
        if word not in wanted or word in rows:
            continue
        fields = raw.split()
        if len(fields) > dim + 1 and _floats(fields[1:-dim]) is None:
            word = b" ".join(fields[:-dim]).decode("utf-8", "ignore")  # a word with spaces in it
            if word not in wanted or word in rows:
                continue
            fields = [b""] + fields[-dim:]
        values = _floats(fields[1:]) if len(fields) == dim + 1 else None
        if values is None or not np.isfinite(values).all():
            _skip(found, vectors.path, number)
            continue
        rows[word] = values


def _read_binary(fh: IO[bytes], vectors: VectorFile, wanted: set[str], found: FoundRows) -> None:
    size = 4 * vectors.dim
    fh.readline(_MAX_LINE)
    buf, pos = fh.read(_CHUNK), 0
    for row in range(vectors.count or 0):
        while True:
            space = buf.find(b" ", pos)
            if space >= 0 and len(buf) >= space + 1 + size:
                break
            more = fh.read(_CHUNK)
            if not more:
                raise DataError(f"{vectors.path}: ends inside row {row + 1} of the {vectors.count} its header announces; "
                                "the header's count or dimension is wrong, or the file is truncated")
            buf, pos = buf[pos:] + more, 0
            if len(buf) > _MAX_LINE + size:
                raise DataError(f"{vectors.path}: row {row + 1} has no word ending in a space; not a word2vec binary file")
        word = buf[pos:space].lstrip(b"\n").decode("utf-8", "ignore")
        found.rows_read += 1
        if word in wanted and word not in found.rows:
            values = np.frombuffer(buf, dtype="<f4", count=vectors.dim, offset=space + 1).astype(np.float32)
            if np.isfinite(values).all():
                found.rows[word] = values
            else:
                found.skipped += 1
                found.first_skipped = found.first_skipped or f"{vectors.path} row {row + 1}"
        pos = space + 1 + size
    if (buf[pos:] + fh.read(_CHUNK)).strip():
        raise DataError(f"{vectors.path}: data follows the {vectors.count} rows its header announces; "
                        "the header's count or dimension is wrong")
