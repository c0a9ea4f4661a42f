"""Readers for labelled text files: CSV (with a header), TSV and JSONL.

Every reader yields `Example`s that remember their source line, so later
stages can name ``file:line`` in their errors. Problems a user can fix raise
`DataError` with such a location and a hint. `RowStream` reads a file row by
row (a corpus of millions of rows never sits in memory); `read_table` reads
it all at once.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from data_processor.base.atomic import atomic_path
from data_processor.base.errors import ConfigError, DataError, where

FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
# Column names tried, in order, when the user does not name the text column.
TEXT_COLUMN_GUESSES = ("text", "review", "sentence", "content", "comment", "title")
LABEL_COLUMN_DEFAULT = "label"


def raise_csv_field_size_limit() -> int:
    """Raise the csv module's field size limit to the largest value this platform accepts.

    The default limit (131072 characters) makes long fields fail with ``field
    larger than field limit``; ``sys.maxsize`` overflows where a C long is 32
    bits, so divide by 10 until the value is accepted. Returns the limit set.
    """
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return limit
        except OverflowError:
            limit //= 10


raise_csv_field_size_limit()


@dataclass(frozen=True)
class Example:
    """One row: its text, its label (None for unlabelled input) and its 1-based source line."""

    text: str
    label: str | None
    line: int


@dataclass
class Table:
    """The rows read from one file, and how many bad rows were skipped."""

    path: Path
    examples: list[Example] = field(default_factory=list)
    skipped: int = 0

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def labels(self) -> list[str | None]:
        return [e.label for e in self.examples]


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """Return the file format: ``fmt`` if given, else guessed from the extension (``.txt`` is TSV)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ConfigError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}; "
            f"pass --format {'|'.join(FORMATS)}"
        )
    return _EXTENSIONS[suffix]


def read_table(
    path: str | Path,
    text_col: str | int | None = None,
    label_col: str | int | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    skip_bad_rows: bool = False,
    require_label: bool = True,
) -> Table:
    """Read labelled (or, with ``require_label=False``, unlabelled) rows from a file, all at once (see `RowStream`)."""
    rows = RowStream(path, text_col, label_col, fmt, encoding, skip_bad_rows, require_label)
    examples = list(rows)
    return Table(rows.path, examples, rows.skipped)


class RowStream:
    """The rows of a file as `Example`s, read lazily: each pass over it reads the file again, row by row.

    Columns are chosen by name or 0-based index; a string of digits counts as
    an index. UTF-8 input may start with a byte-order mark. A row without text,
    or without a label when one is required, raises `DataError` naming its
    line, unless ``skip_bad_rows`` is set, in which case it is counted in
    ``skipped`` (known once a pass is complete). A pass that finds no usable
    row raises `DataError`. A missing or empty file, or an unknown format, is
    an error at once.
    """

    def __init__(self, path: str | Path, text_col: str | int | None = None, label_col: str | int | None = None,
                 fmt: str | None = None, encoding: str = "utf-8", skip_bad_rows: bool = False, require_label: bool = True) -> None:
        self.path = Path(path)
        check_input_file(self.path)
        if self.path.stat().st_size == 0:
            raise DataError(f"{self.path}: the file is empty")
        self.fmt = detect_format(self.path, fmt)
        self.text_col, self.label_col = _as_index(text_col), _as_index(label_col)
        self.encoding, self.skip_bad_rows, self.require_label = encoding, skip_bad_rows, require_label
        self.skipped = 0

    def __iter__(self) -> Iterator[Example]:
        path, encoding = self.path, self.encoding
        enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        self.skipped, usable = 0, 0
        try:
            with open(path, encoding=enc, newline="") as handle:
                rows = _ROW_READERS[self.fmt](handle, path, self.text_col, self.label_col, self.require_label)
                for example in self._checked(rows):
                    usable += 1
                    yield example
        except UnicodeDecodeError as exc:
            raise DataError(_decode_error_message(path, encoding, exc)) from None
        except UnicodeError as exc:  # a decoder's complaint without a position, e.g. utf-16's "stream does not start with BOM"
            raise DataError(f"{path}: not valid {encoding} text ({exc}); pass --encoding with the file's encoding") from None
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}; try utf-8 or gb18030") from None
        if not usable:
            raise DataError(f"{path}: no usable rows" + (f" ({self.skipped} bad rows skipped)" if self.skipped else ""))

    def _checked(self, rows: Iterator[_Row]) -> Iterator[Example]:
        """The rows as `Example`s; a bad row is a `DataError` naming its line, or skipped and counted."""
        for line, text, label, problem in rows:
            if problem is None and (text is None or not text.strip()):
                problem = "the row has no text; fix the row"
            if problem is None and self.require_label and (label is None or not label.strip()):
                problem = "the row has no label; fix the row"
            if problem is not None:
                if self.skip_bad_rows:
                    self.skipped += 1
                    continue
                raise DataError(f"{where(self.path, line)}: {problem} or pass --skip-bad-rows")
            yield Example(text.strip(), label.strip() if label is not None else None, line)


class Texts:
    """The texts of some rows (a list of `Example`s, or a `RowStream` that reads its file again on each pass):
    a restartable iterable."""

    def __init__(self, rows: Iterable[Example]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[str]:
        return (example.text for example in self.rows)


def _as_index(col: str | int | None) -> str | int | None:
    if isinstance(col, str) and col.isdigit():
        return int(col)
    return col


# A row reader yields (line, text or None, label or None, problem or None); a problem ends with how to fix the row.
_Row = tuple[int, str | None, str | None, str | None]


def _pick(header: list[str], col: str | int | None, guesses: tuple[str, ...], what: str, path: Path, required: bool) -> int | None:
    """Resolve a column name or index against a header row to an index."""
    if isinstance(col, int):
        if col >= len(header):
            raise DataError(f"{where(path, 1)}: {what} column index {col} is out of range; the file has {len(header)} columns")
        return col
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    candidates = (col,) if col is not None else guesses
    for name in candidates:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    if not required:
        return None
    flag = "--text-col" if what == "text" else "--label-col"
    wanted = repr(col) if col is not None else " or ".join(repr(g) for g in guesses)
    raise DataError(f"{where(path, 1)}: no {what} column {wanted} in the header {names}; choose one with {flag}")


_CSV_EXTRA = "(a comma inside the text?); put the text in double quotes"
_TSV_EXTRA = "(a tab inside the text?); remove it"


def _read_csv(handle, path: Path, text_col, label_col, require_label) -> Iterator[_Row]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    ti = _pick(header, text_col, TEXT_COLUMN_GUESSES, "text", path, True)
    li = _pick(header, label_col, (LABEL_COLUMN_DEFAULT,), "label", path, require_label)
    yield from _split_rows(reader, ti, li, len(header), _CSV_EXTRA)


def _split_rows(reader, ti: int, li: int | None, width: int, extra_hint: str) -> Iterator[_Row]:
    """Yield rows of a csv.reader as (line, text, label, problem), tracking each record's first line.

    A row needs the text and label columns; one with more than ``width`` fields (the header's, or the first
    row's) is refused rather than read, since a separator inside the text would shift the label
    (``extra_hint`` says what to do). Empty fields at the end of a row do not count.
    """
    start = reader.line_num + 1
    needed = max(ti, li if li is not None else 0) + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if not fields or all(not f.strip() for f in fields):
            continue
        while len(fields) > width and not fields[-1].strip():
            fields = fields[:-1]
        if len(fields) > width:
            yield line, None, None, f"the row has {len(fields)} fields, expected {width} {extra_hint}"
            continue
        if len(fields) < needed:
            yield line, None, None, f"the row has {len(fields)} fields, expected at least {needed}; fix the row"
            continue
        yield line, fields[ti], fields[li] if li is not None else None, None


def _read_tsv(handle, path: Path, text_col, label_col, require_label) -> Iterator[_Row]:
    # Quotes are literal characters in TSV corpora (THUCNews and the like).
    reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    named = isinstance(text_col, str) or isinstance(label_col, str)
    try:
        first = next(reader)
    except StopIteration:
        return
    lowered = [f.strip().lower() for f in first]
    has_header = named or (
        any(g in lowered for g in TEXT_COLUMN_GUESSES) and (LABEL_COLUMN_DEFAULT in lowered or not require_label)
    )
    if has_header:
        ti = _pick(first, text_col, TEXT_COLUMN_GUESSES, "text", path, True)
        li = _pick(first, label_col, (LABEL_COLUMN_DEFAULT,), "label", path, require_label)
        yield from _split_rows(reader, ti, li, len(first), _TSV_EXTRA)
        return
    ti = text_col if text_col is not None else 0
    li = label_col if label_col is not None else (1 if require_label or len(first) > 1 else None)
    yield from _split_rows(_Prepend([first], reader), ti, li, _width(first), _TSV_EXTRA)


def _width(row: list[str]) -> int:
    """The fields of a row, empty ones at its end not counted (at least 1)."""
    while len(row) > 1 and not row[-1].strip():
        row = row[:-1]
    return len(row)


class _Prepend:
    """A csv.reader look-alike that replays already-read rows before the rest."""

    def __init__(self, rows: list[list[str]], reader) -> None:
        self._rows, self._reader, self.line_num = rows, reader, 0

    def __iter__(self):
        for row in self._rows:
            self.line_num += 1
            yield row
        for row in self._reader:
            self.line_num = self._reader.line_num
            yield row


_JSONL_FIX = "fix the line (JSON Lines: one object per line)"


def _read_jsonl(handle, path: Path, text_col, label_col, require_label) -> Iterator[_Row]:
    if isinstance(text_col, int) or isinstance(label_col, int):
        raise ConfigError(f"{path}: JSONL rows are objects; name the fields with --text-col/--label-col, not indexes")
    for line, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.rstrip("\r\n"))  # so an error at the end of the line names its column, not line 2's
        except json.JSONDecodeError as exc:
            yield line, None, None, f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}); {_JSONL_FIX}"
            continue
        except ValueError:  # json.loads refuses integers of more than sys.get_int_max_str_digits() (4300) digits
            yield line, None, None, f"a number with too many digits to read; {_JSONL_FIX}"
            continue
        except RecursionError:
            yield line, None, None, f"JSON nested too deeply to read; {_JSONL_FIX}"
            continue
        if not isinstance(obj, dict):
            yield line, None, None, f"the line is not a JSON object; {_JSONL_FIX}"
            continue
        keys = {k.lower(): k for k in obj}
        tkey = next((keys[c.lower()] for c in ((text_col,) if text_col else TEXT_COLUMN_GUESSES) if c.lower() in keys), None)
        lkey = keys.get((label_col or LABEL_COLUMN_DEFAULT).lower())
        text = obj.get(tkey) if tkey is not None else None
        label = obj.get(lkey) if lkey is not None else None
        yield line, _scalar(text), _scalar(label), None


def _scalar(value) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


_ROW_READERS = {"csv": _read_csv, "tsv": _read_tsv, "jsonl": _read_jsonl}


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
LINE_BREAKERS = "\x85\u2028\u2029"  # where str.splitlines() breaks a line besides \n and \r
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # reorder the text after them
_INVISIBLE = frozenset(LINE_BREAKERS[1:] + BIDI_CONTROLS)  # U+0085 is a C1 control: \x85
_JSON_ESCAPES = {ord(ch): f"\\u{ord(ch):04x}" for ch in LINE_BREAKERS + BIDI_CONTROLS}


def check_input_file(path: Path) -> None:
    """A `DataError` saying why ``path`` cannot be read as an input file: it does not exist, is a directory, is not a
    regular file (a device such as /dev/null, a pipe: read more than once, an input must be a file), or is unreadable."""
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise DataError(f"{path}: cannot read it (permission denied)")
        return
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a file")
    if path.exists():
        raise DataError(f"{path}: not a regular file (a device or a pipe); inputs are read more than once: save the text to a file")
    raise DataError(f"{path}: no such file")


def tsv_field(text: str) -> str:
    r"""``text`` made safe for one field of a TSV line: backslash, tab, newline and carriage return escaped as
    ``\\ \t \n \r``, other control characters as ``\xNN``, and the characters that break or reorder a line on a
    terminal (`LINE_BREAKERS`, `BIDI_CONTROLS`) as ``\uNNNN``."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _INVISIBLE:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def json_line(obj: object) -> str:
    """``obj`` as one line of JSON with non-ASCII text kept readable, except the characters that a reader splitting
    lines (``str.splitlines``: U+0085, U+2028, U+2029) would break at or a terminal would reorder (`BIDI_CONTROLS`),
    written as ``\\uNNNN`` escapes: the same JSON value, on one line wherever it is read."""
    return json.dumps(obj, ensure_ascii=False).translate(_JSON_ESCAPES)


def _decode_error_message(path: Path, encoding: str, exc: UnicodeDecodeError) -> str:
    """Name the line of the first undecodable byte, and suggest an encoding that would work."""
    data = path.read_bytes()
    # exc.start is relative to the decoder's current chunk; locate the first bad byte in the whole file.
    try:
        data.decode(encoding)
        offset = exc.start
    except UnicodeDecodeError as full:
        offset = full.start
    line = data.count(b"\n", 0, offset) + 1
    hint = "pass --encoding with the file's encoding"
    if encoding.lower() != "gb18030":
        try:
            data.decode("gb18030")
            hint = "it decodes as GB18030/GBK (common for Chinese text): pass --encoding gb18030"
        except UnicodeDecodeError:
            pass
    return f"{where(path, line)}: bytes that are not valid {encoding} (0x{data[offset]:02x} at byte {offset}); {hint}"


def write_table(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` under a header of ``columns`` in the format of ``path``'s extension (CSV; TSV with fields escaped
    by `tsv_field`; JSONL objects), atomically. Returns the number of rows written."""
    fmt = detect_format(path)
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.writer(handle)
            writer.writerow(columns)
        elif fmt == "tsv":
            handle.write("\t".join(columns) + "\n")
        for row in rows:
            if fmt == "csv":
                writer.writerow(row)
            elif fmt == "tsv":
                handle.write("\t".join(tsv_field(str(value)) for value in row) + "\n")
            else:
                handle.write(json_line(dict(zip(columns, row))) + "\n")
            count += 1
    return count
