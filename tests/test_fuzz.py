"""Property-based fuzz tests of every reader of user-supplied files.

The contract: a reader given any file either returns normally or raises
`UserError` (`DataError`, `ConfigError`) with a one-line message; any other
exception (KeyError, IndexError, UnicodeError, ValueError, OverflowError,
RecursionError, zlib.error...) is a bug, because ``run.py`` shows a traceback
for it instead of a message the user can act on. Each test catches
`UserError` only and lets everything else fail the test.

Fuzzed here, with both arbitrary bytes and inputs built to sit near the
formats' edges (separators and quotes in fields, BOMs, stray ``\\r``, wrong
field counts, odd JSON types, deep nesting, huge numbers, truncated rows):

* `data_processor.io.read_table` for CSV, TSV and JSONL, with every option
  varied; for well-formed rows, what is read back must equal what was written;
* `data_processor.vectors.files.open_vectors` then `read_rows` (word2vec text,
  word2vec binary, GloVe, and ``.gz``/``.bz2`` files that may not be compressed);
  well-formed vectors must read back exactly, non-finite rows skipped and counted;
* `data_processor.vocab.Vocab.load`;
* saved configs: `ClassifierConfig.from_dict`, `CharLMConfig.from_dict` and
  `RunDir.open(...).load_settings(...)` on a damaged ``config.json``;
* ``predict --file`` inputs (.txt, .csv, .tsv, .jsonl) and the label cells of ``evaluate`` files against a run's labels;
* label cells holding several labels (``--multi-label``, any separator), which must read back as the sets written;
* ``--label-names`` files (RAW=NAME or RAW<TAB>NAME lines, or a JSON object), which must read back as written.

Every test is derandomised (a fixed sequence of examples, no example database),
so it cannot flake in CI, and runs 1,000 small examples in a few seconds.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import functools
import gzip
import io
import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_processor.base.errors import UserError
from data_processor.io import TEXT_COLUMN_GUESSES, Example, read_table
from data_processor.label_names import parse_label_names
from data_processor.vectors.files import open_vectors, read_rows
from data_processor.vocab import Vocab
from train.charlm.settings import CharLMConfig
from train.classify.data import LabelTargets
from train.classify.settings import ClassifierConfig, PredictSettings
from train.common.rundir import RunDir

pytestmark = pytest.mark.fuzz  # 1,000 examples per reader: about a minute in all, so out of the fast loop (CI runs them)

FUZZ = settings(max_examples=1000, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

SUFFIX = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl"}
COLUMN_NAMES = ["text", "label", "review", "Text", " LABEL ", "sentence", "body", "y", "", "0", "1", "2", "-1"]
# Characters that trouble CSV, TSV and JSON readers (separators, quotes, line ends, BOMs, NUL, a lone surrogate), other
# whitespace and line separators, and a little ordinary text. A fixed alphabet: st.characters() would be ~4x slower.
AWKWARD = (',\t"\'\r\n\ufeff \\\x00{}[]:\u2028\u2029\x85\x0b\x0c\x1c\x7f\xa0\u3000\udc80'
           "aZ1-.e#;好評é\u0301😀\U0010ffff")


def user_error_or(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or None when it raises a `UserError`, whose message must be one non-empty line.

    Any other exception propagates and fails the test: that is the contract under test.
    """
    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, f"not a one-line message: {message!r}"
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole module: each example overwrites its test's file."""
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- strategies

texts = st.text(alphabet=AWKWARD, max_size=12)
cells = texts | st.sampled_from(COLUMN_NAMES)

json_scalars = (st.none() | st.booleans() | st.integers() | st.sampled_from([2**63, -(2**64), 10**309, -(10**400)])
                | st.floats(allow_nan=True, allow_infinity=True) | texts)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(texts | st.sampled_from(COLUMN_NAMES), inner, max_size=4), max_leaves=8)


def pathological_json() -> st.SearchStrategy[str]:
    """JSON that is valid or nearly so but extreme: deep nesting (recursion limits), very long numbers (int parsing limits)."""
    depth = st.sampled_from([1, 100, 990, 1000, 1001, 2000, 3000]) | st.integers(1, 3000)
    digits = st.sampled_from([1, 400, 4300, 4301, 6000]) | st.integers(1, 6000)
    return st.one_of(
        depth.map(lambda n: "[" * n + "]" * n),
        depth.map(lambda n: '{"text": ' + "[" * n + "]" * n + ', "label": "x"}'),
        depth.map(lambda n: '{"a":' * n + "1" + "}" * n),
        digits.map(lambda n: '{"text": "t", "label": ' + "9" * n + "}"),
        digits.map(lambda n: "1" * n),
    )


def encode(text: str, encoding: str) -> bytes:
    """``text`` as bytes; lone surrogates survive as invalid UTF-8/16 where the codec allows it, else become '?'."""
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


@st.composite
def file_bytes(draw, body: st.SearchStrategy[str]) -> bytes:
    """Bytes of a text built by ``body``: usually UTF-8 (maybe with a BOM), sometimes UTF-16 or GB18030; or plain random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    text = draw(body)
    if draw(st.booleans()):
        text = "\ufeff" + text
    return encode(text, draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "gb18030"])))


@st.composite
def separated_text(draw, sep: str) -> str:
    """Rows of fields joined by ``sep``: written by csv.writer (quoted or not) or joined raw, with uneven field counts."""
    rows = draw(st.lists(st.lists(cells, max_size=5), max_size=6))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out = io.StringIO()
    for row in rows:
        if draw(st.booleans()):
            quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
            csv.writer(out, delimiter=sep, lineterminator=end, quoting=quoting).writerow(row)
        else:
            out.write(sep.join(row) + draw(st.sampled_from([end, "", "\n\n", sep + end])))
    return out.getvalue()


@st.composite
def jsonl_text(draw) -> str:
    """Lines of JSON: objects with text/label-like keys and values of any JSON type, non-objects, broken and extreme JSON."""
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 5))
        if kind <= 1:
            obj = draw(st.dictionaries(st.sampled_from(COLUMN_NAMES) | texts, json_values, max_size=4))
            line = json.dumps(obj, ensure_ascii=draw(st.booleans()))
        elif kind == 2:
            line = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
        elif kind == 3:  # cut short
            line = json.dumps(draw(json_values))
            line = line[: draw(st.integers(0, len(line)))]
        elif kind == 4:
            line = draw(texts)
        else:
            line = draw(pathological_json())
        lines.append(line)
    return draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"])).join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


BODIES = {"csv": separated_text(","), "tsv": separated_text("\t"), "jsonl": jsonl_text()}
columns = st.none() | st.sampled_from(COLUMN_NAMES) | st.integers(0, 4)


# --------------------------------------------------------------------------- 1. read_table

@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
@FUZZ
@given(data=st.data(), text_col=columns, label_col=columns, by_extension=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8", "UTF_8", "utf-16", "gb18030", "latin-1"]),
       skip_bad_rows=st.booleans(), require_label=st.booleans())
def test_read_table_raises_only_user_errors(workdir, fmt, data, text_col, label_col, by_extension, encoding, skip_bad_rows,
                                            require_label):
    """Any bytes, any options: a Table whose examples all have text (and labels when required), or a UserError."""
    path = workdir / f"table{SUFFIX[fmt]}"
    path.write_bytes(data.draw(file_bytes(BODIES[fmt]), label="file"))
    table = user_error_or(read_table, path, text_col=text_col, label_col=label_col, fmt=None if by_extension else fmt,
                          encoding=encoding, skip_bad_rows=skip_bad_rows, require_label=require_label)
    if table is None:
        return
    assert table.examples and (skip_bad_rows or table.skipped == 0)
    for example in table.examples:
        assert example.text and example.text == example.text.strip()
        if require_label:
            assert example.label and example.label == example.label.strip()
    lines = [e.line for e in table.examples]
    assert lines == sorted(set(lines)) and lines[0] >= 1
    if not skip_bad_rows:  # no bad row: skipping bad rows changes nothing
        again = read_table(path, text_col=text_col, label_col=label_col, fmt=None if by_extension else fmt, encoding=encoding,
                           skip_bad_rows=True, require_label=require_label)
        assert (again.examples, again.skipped) == (table.examples, 0)


# well-formed rows: text and label non-blank, no character a format cannot hold in a field
def _non_blank(alphabet: str) -> st.SearchStrategy[str]:
    """Non-empty strings of ``alphabet`` that are not all whitespace."""
    return st.text(alphabet=alphabet, min_size=1, max_size=12).filter(lambda s: s.strip())


_FIELD_CHARS = AWKWARD.replace("\udc80", "")
_TSV_CHARS = _FIELD_CHARS.replace("\t", "").replace("\r", "").replace("\n", "")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@st.composite
def labelled_rows(draw, chars: str) -> list[tuple[str, str]]:
    """1-6 rows of (text, label), both with something besides whitespace."""
    return draw(st.lists(st.tuples(_non_blank(chars), _non_blank(chars)), min_size=1, max_size=6))


@FUZZ
@given(rows=labelled_rows(_FIELD_CHARS), label_first=st.booleans(), bom=st.booleans(),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), end=st.sampled_from(["\n", "\r\n"]))
def test_csv_round_trip(workdir, rows, label_first, bom, quoting, end):
    """Rows written by csv.writer under a text/label header read back as written (stripped), each at its first line."""
    out = io.StringIO()
    csv.writer(out, lineterminator=end).writerow(["label", "text"] if label_first else ["text", "label"])
    starts, line = [], 2
    for text, label in rows:
        before = out.tell()
        # csv.writer quotes only the line ends of its own lineterminator; a field with another must be quoted too
        how = csv.QUOTE_ALL if "\r" in text + label or "\n" in text + label else quoting
        csv.writer(out, quoting=how, lineterminator=end).writerow([label, text] if label_first else [text, label])
        starts.append(line)
        line += len(_LINE_BREAK.findall(out.getvalue()[before:]))
    path = workdir / "round.csv"
    path.write_bytes((("\ufeff" if bom else "") + out.getvalue()).encode("utf-8"))
    table = read_table(path)
    assert [(e.text, e.label, e.line) for e in table.examples] == [(t.strip(), la.strip(), n) for (t, la), n in zip(rows, starts)]


@FUZZ
@given(rows=labelled_rows(_TSV_CHARS), header=st.booleans(), bom=st.booleans(), end=st.sampled_from(["\n", "\r\n", "\r"]))
def test_tsv_round_trip(workdir, rows, header, bom, end):
    """text<TAB>label lines, with or without a header, read back as written (stripped); quotes are plain characters."""
    lowered = [f.strip().lower() for f in rows[0]]
    # a first row that reads as a header must be one; a first text starting with U+FEFF would be read as a BOM
    header = header or ("label" in lowered and any(g in lowered for g in TEXT_COLUMN_GUESSES)) or rows[0][0].startswith("\ufeff")
    lines = (["text\tlabel"] if header else []) + [f"{t}\t{la}" for t, la in rows]
    path = workdir / "round.tsv"
    path.write_bytes((("\ufeff" if bom else "") + end.join(lines) + end).encode("utf-8"))
    table = read_table(path)
    first = 2 if header else 1
    assert [(e.text, e.label, e.line) for e in table.examples] == [(t.strip(), la.strip(), first + i) for i, (t, la) in enumerate(rows)]


@FUZZ
@given(rows=st.lists(st.tuples(_non_blank(_FIELD_CHARS), _non_blank(_FIELD_CHARS) | st.integers() | st.floats(allow_nan=False)),
                     min_size=1, max_size=6),
       extra=st.dictionaries(st.sampled_from(["id", "meta", "score"]), json_values, max_size=2),
       ascii_only=st.booleans(), blank_lines=st.booleans(), end=st.sampled_from(["\n", "\r\n"]))
def test_jsonl_round_trip(workdir, rows, extra, ascii_only, blank_lines, end):
    """One object per line with a text and a string or number label reads back as written, each on its own line."""
    objects = [{"text": t, **extra, "label": la} for t, la in rows]
    sep = end + end if blank_lines else end
    try:
        data = sep.join(json.dumps(o, ensure_ascii=ascii_only) for o in objects).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in ``extra``: only escaped JSON can hold it
        data = sep.join(json.dumps(o) for o in objects).encode("utf-8")
    path = workdir / "round.jsonl"
    path.write_bytes(data)
    table = read_table(path)
    step = 2 if blank_lines else 1
    assert [(e.text, e.label, e.line) for e in table.examples] == [(t.strip(), str(la).strip(), 1 + step * i)
                                                                   for i, (t, la) in enumerate(rows)]


# --------------------------------------------------------------------------- 2. vectors files

words = st.text(alphabet="ab好 \t\n\ufeff\xff\x00\u3000\U0010ffff", max_size=6)
numbers = (st.floats(width=32).map(repr) | st.sampled_from(["nan", "inf", "-inf", "1e999", "x", "", "1,5", "0x10", "1_0", "--1"])
           | st.integers(-3, 3).map(str))
counts = st.integers(0, 4).map(str) | st.sampled_from(["-1", "00", "99999999999999999999", "4611686018427387904", "1.5", "x"])
dims = st.integers(0, 4).map(str) | st.sampled_from(["-1", "999999999", "99999999999999999999", "4611686018427387904", "1e3"])


@st.composite
def vectors_text(draw, header: bool) -> bytes:
    """word2vec text (``header``) or GloVe: rows of a word and some numbers, counts and dimensions not always agreeing."""
    lines = [f"{draw(counts)} {draw(dims)}"] if header else []
    for _ in range(draw(st.integers(0, 5))):
        lines.append(" ".join([draw(words), *draw(st.lists(numbers, max_size=5))]))
    return encode(draw(st.sampled_from(["\n", "\r\n", " \n"])).join(lines) + draw(st.sampled_from(["", "\n"])), "utf-8")


@st.composite
def vectors_binary(draw) -> bytes:
    """word2vec binary: a header, then per row a word, a space and float32s (maybe too few, maybe non-finite)."""
    out = [f"{draw(counts)} {draw(dims)}\n".encode()]
    for _ in range(draw(st.integers(0, 4))):
        n = draw(st.integers(0, 5))
        values = draw(st.lists(st.floats(width=32), min_size=n, max_size=n))
        row = draw(st.sampled_from([b"", b"\n"])) + encode(draw(words), "utf-8") + b" " + struct.pack(f"<{n}f", *values)
        out.append(row[: draw(st.integers(0, len(row)))] if draw(st.integers(0, 5)) == 0 else row)
    return b"".join(out)


pickle_like = st.binary(max_size=60).map(lambda b: b"\x80\x04" + b)  # refused: no trust_pickle
vectors_content = st.binary(max_size=300) | vectors_text(True) | vectors_text(False) | vectors_binary() | pickle_like


@st.composite
def vectors_file(draw) -> tuple[str, bytes, bytes]:
    """A file name suffix, its bytes (compressed or not: a ``.gz``/``.bz2`` name may lie) and the uncompressed content."""
    data = plain = draw(vectors_content)
    suffix = draw(st.sampled_from([".txt", ".vec", ".bin", ".gz", ".bz2", ".kv"]))
    if suffix in (".gz", ".bz2"):
        how = draw(st.integers(0, 3))
        if how >= 1:
            data = gzip.compress(data) if suffix == ".gz" else bz2.compress(data)
        if how == 2:  # truncated
            data = data[: draw(st.integers(0, len(data)))]
        if how == 3 or draw(st.integers(0, 7)) == 0:  # a valid magic number in front of garbage
            data = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" if suffix == ".gz" else b"BZh9") + draw(st.binary(max_size=60))
    return suffix, data, plain


@FUZZ
@given(file=vectors_file(), extra=st.lists(words, max_size=3))
def test_vectors_files_raise_only_user_errors(workdir, file, extra):
    """open_vectors then read_rows of every word in the file (and a few others): finite rows of the file's dimension, or a UserError."""
    suffix, data, plain = file
    for old in workdir.glob("vectors.*"):
        old.unlink()
    path = workdir / f"vectors{suffix}"
    path.write_bytes(data)
    vectors = user_error_or(open_vectors, path)
    if vectors is None:
        return
    assert vectors.format in ("word2vec-text", "word2vec-binary", "glove") and vectors.dim >= 1
    wanted = {w.decode("utf-8", "ignore") for w in plain.split()} | set(extra)
    found = user_error_or(read_rows, vectors, wanted)
    if found is None:
        return
    assert found.dim == vectors.dim and found.skipped >= 0 and found.rows_read >= len(found.rows)
    for word, row in found.rows.items():
        assert word in wanted and row.shape == (vectors.dim,) and row.dtype == np.float32 and np.isfinite(row).all()


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def vector_table(draw) -> tuple[int, list[tuple[str, list[float]]]]:
    """A dimension and 1-6 rows of distinct words (no whitespace, no digits: never mistaken for a header) and float32s,
    a later row now and then holding a NaN or infinity."""
    dim = draw(st.integers(1, 4))
    names = draw(st.lists(st.text(alphabet="ab好é😀\x00,.\"'_-", min_size=1, max_size=5), min_size=1, max_size=6, unique=True))
    rows = []
    for i, name in enumerate(names):
        values = draw(st.lists(finite32, min_size=dim, max_size=dim))
        if i and draw(st.integers(0, 5)) == 0:
            values[draw(st.integers(0, dim - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        rows.append((name, values))
    return dim, rows


@FUZZ
@given(table=vector_table(), fmt=st.sampled_from(["word2vec-text", "word2vec-binary", "glove"]),
       compression=st.sampled_from(["", ".gz", ".bz2"]))
def test_vectors_round_trip(workdir, table, fmt, compression):
    """Vectors written as word2vec text, word2vec binary or GloVe (maybe compressed) read back exactly; non-finite rows are
    skipped and counted."""
    dim, rows = table
    if fmt == "word2vec-binary":
        body = b"".join(name.encode() + b" " + struct.pack(f"<{dim}f", *values) + b"\n" for name, values in rows)
    else:
        body = b"".join(" ".join([name, *(f"{v:.9g}" for v in values)]).encode() + b"\n" for name, values in rows)
    data = body if fmt == "glove" else f"{len(rows)} {dim}\n".encode() + body
    data = {"": bytes, ".gz": gzip.compress, ".bz2": bz2.compress}[compression](data)
    for old in workdir.glob("round-vectors*"):
        old.unlink()
    path = workdir / f"round-vectors.{'bin' if fmt == 'word2vec-binary' else 'txt'}{compression}"
    path.write_bytes(data)
    vectors = open_vectors(path)
    assert (vectors.format, vectors.dim) == (fmt, dim)
    found = read_rows(vectors, {name for name, _ in rows})
    finite = {name: values for name, values in rows if all(map(math.isfinite, values))}
    assert {name: row.tolist() for name, row in found.rows.items()} == finite
    assert (found.rows_read, found.skipped) == (len(rows), len(rows) - len(finite))


# --------------------------------------------------------------------------- 3. vocabularies

@st.composite
def vocab_json(draw) -> bytes:
    """A vocabulary file: right or wrong format tag, specials/itos/counts of any JSON type; or any JSON; or any bytes."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    if kind == 2:
        return draw(pathological_json()).encode()
    doc = {"format": draw(st.just("rnn-toolkit-vocab/1") | json_values)}
    tokens = st.lists(texts, max_size=6) | json_values
    for key, value in (("specials", tokens), ("itos", tokens), ("counts", st.dictionaries(texts, st.integers()) | json_values)):
        if draw(st.integers(0, 5)):
            doc[key] = draw(value)
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", errors="surrogatepass")


@FUZZ
@given(data=vocab_json())
def test_vocab_load_raises_only_user_errors(workdir, data):
    """Vocab.load of anything: a consistent Vocab, or a UserError."""
    path = workdir / "vocab.json"
    path.write_bytes(data)
    vocab = user_error_or(Vocab.load, path)
    if vocab is not None:
        assert len(vocab.stoi) == len(vocab.itos)


# --------------------------------------------------------------------------- 4. saved configs

# values near the edges of each type: a float field given an int too large for a float, nan, a bool for an int...
EDGES = {float: [0, 1, -1, 0.5, 1.0, 1e-300, 1e308, 2**1024, -(10**309), math.inf, -math.inf, math.nan, True, "1.0"],
         int: [0, 1, -1, 2**63, 10**309, 1.0, True, "1"], bool: [True, False, 0, 1, None, "true"],
         str: ["", "x", " ", "none", "\x00", 1], list: [[], ["a"], [1], "a"]}


@functools.cache
def field_values(cls, name: str) -> st.SearchStrategy:
    """Values for field ``name`` of ``cls``: its default, its choices and its type's edge cases, or any JSON value."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    base, _ = cls.field_types()[name]
    candidates = [f.default, None, *(f.metadata.get("choices") or ()), *EDGES.get(base, [])]
    unique = {repr(v): v for v in candidates}  # by repr: 1, 1.0 and True are different values here
    typed = st.sampled_from(sorted(unique.values(), key=repr))
    return st.one_of(typed, typed, typed, json_values)


@st.composite
def field_dicts(draw, cls) -> dict:
    """A config object: a few of ``cls``'s fields (and record keys, and now and then an unknown key) with likely values."""
    names = [f.name for f in dataclasses.fields(cls)]
    keys = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    value = {key: draw(field_values(cls, key)) for key in keys}
    for key in draw(st.lists(st.sampled_from([*cls.RECORD_KEYS, "", "Model", "unknown"]), max_size=2)):
        value[key] = draw(json_values)
    return value


def config_values(cls) -> st.SearchStrategy:
    """Any JSON value, or (mostly) an object whose keys are ``cls``'s real field names."""
    return json_values | field_dicts(cls) | field_dicts(cls)


def _check_config(cls, value) -> None:
    """from_dict gives a valid config that keeps every value it was given, or a UserError."""
    config = user_error_or(cls.from_dict, value, "config.json", saved=True)
    if config is None:
        return
    config.check()
    for key, given_value in value.items():
        if key not in cls.RECORD_KEYS:
            assert getattr(config, key) == given_value
    assert cls.from_dict(config.to_dict()) == config


@FUZZ
@given(value=config_values(ClassifierConfig))
def test_classifier_config_from_dict_raises_only_user_errors(value):
    """ClassifierConfig.from_dict of any JSON value, as a saved config.json is loaded."""
    _check_config(ClassifierConfig, value)


@FUZZ
@given(value=config_values(CharLMConfig))
def test_charlm_config_from_dict_raises_only_user_errors(value):
    """CharLMConfig.from_dict of any JSON value, as a saved config.json is loaded."""
    _check_config(CharLMConfig, value)


@st.composite
def config_file(draw) -> bytes:
    """A run's config.json: any bytes, extreme JSON, or a JSON document (maybe a classifier config, maybe cut short)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return draw(pathological_json()).encode()
    value = draw(config_values(ClassifierConfig))
    if isinstance(value, dict) and draw(st.integers(0, 3)):
        value = {**value, "kind": "classifier"}
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if kind == 2:
        text = text[: draw(st.integers(0, len(text)))]
    return encode(("\ufeff" if draw(st.integers(0, 9)) == 0 else "") + text, "utf-8")


@FUZZ
@given(data=config_file())
def test_run_dir_settings_raise_only_user_errors(workdir, data):
    """RunDir.open + load_settings with a damaged config.json: a ClassifierConfig, or a UserError."""
    run = workdir / "run"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_bytes(data)
    opened = user_error_or(RunDir.open, run, "classifier")
    if opened is not None:
        config = user_error_or(opened.load_settings, ClassifierConfig)
        assert config is None or isinstance(config, ClassifierConfig)


# --------------------------------------------------------------------------- 5. predict and evaluate input files

@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".jsonl"])
@FUZZ
@given(data=st.data(), text_col=columns, encoding=st.sampled_from(["utf-8", "gb18030"]), skip_bad_rows=st.booleans())
def test_predict_input_files_raise_only_user_errors(workdir, suffix, data, text_col, encoding, skip_bad_rows):
    """``predict --file`` (and export --check) on any file: its texts, every one non-blank, or a UserError."""
    import run

    body = BODIES["tsv" if suffix == ".txt" else suffix[1:]]
    path = workdir / f"texts{suffix}"
    path.write_bytes(data.draw(file_bytes(body), label="file"))
    options = PredictSettings(run="r", file=str(path), text_col=None if text_col is None else str(text_col), encoding=encoding,
                              skip_bad_rows=skip_bad_rows)
    texts = user_error_or(run.read_texts_file, options, str(path))
    assert texts is None or (texts and all(text.strip() for text in texts))


@FUZZ
@given(data=st.data(), multi=st.booleans(), sep=st.sampled_from(["|", ",", " ", "||", ";"]))
def test_evaluate_labels_raise_only_user_errors(workdir, data, multi, sep):
    """The label cells of an ``evaluate`` file, against the labels a run was trained with: ids, or a UserError naming the line."""
    path = workdir / "labelled.csv"
    path.write_bytes(data.draw(file_bytes(BODIES["csv"]), label="file"))
    table = user_error_or(read_table, path)
    if table is None:
        return
    known = Vocab(data.draw(st.lists(_non_blank(AWKWARD), min_size=1, max_size=4, unique=True), label="trained labels"), specials=())
    targets = LabelTargets(sep if multi else None)
    encoded = user_error_or(targets.encode, known, table.examples, str(path))
    if encoded is not None:
        assert len(encoded) == len(table.examples)


# --------------------------------------------------------------------------- 6. label cells holding several labels

label_words = st.text(alphabet=_FIELD_CHARS.replace("|", ""), min_size=1, max_size=6).filter(lambda s: s.strip())


@FUZZ
@given(cells=st.lists(st.text(alphabet=AWKWARD + "|", max_size=12), min_size=1, max_size=6), sep=st.sampled_from(["|", ",", "|,"]))
def test_label_cells_with_separators_raise_only_user_errors(cells, sep):
    """Any label cells split at any separator: a label vocabulary and a multi-hot matrix, or a UserError naming the line."""
    examples = [Example("text", cell, line) for line, cell in enumerate(cells, start=2)]
    targets = LabelTargets(sep)
    labels = user_error_or(targets.vocab, examples, "train.csv")
    if labels is not None:
        matrix = targets.encode(labels, examples, "train.csv")
        assert matrix.shape == (len(cells), len(labels)) and (matrix.sum(axis=1) >= 1).all()


@FUZZ
@given(sets=st.lists(st.lists(label_words, min_size=1, max_size=4), min_size=1, max_size=6)
       .filter(lambda sets: len({label.strip() for labels in sets for label in labels}) > 1), spaced=st.booleans())
def test_label_sets_round_trip_through_their_cells(sets, spaced):
    """Label sets joined with the separator read back as the same sets: stripped, in order, each label once."""
    examples = [Example("text", (" | " if spaced else "|").join(labels), line) for line, labels in enumerate(sets, start=2)]
    targets = LabelTargets("|")
    labels = targets.vocab(examples, "train.csv")
    matrix = targets.encode(labels, examples, "train.csv")
    for row, wanted in zip(matrix, sets):
        assert {labels.itos[j] for j in row.nonzero()[0]} == {label.strip() for label in wanted}


# --------------------------------------------------------------------------- 7. --label-names files

@pytest.mark.parametrize("suffix", [".txt", ".json"])
@FUZZ
@given(data=st.data())
def test_label_names_files_raise_only_user_errors(workdir, suffix, data):
    """A ``--label-names`` file of any bytes: a mapping of non-blank raw labels to distinct non-blank names, or a UserError."""
    path = workdir / f"names{suffix}"
    body = jsonl_text() if suffix == ".json" else separated_text(data.draw(st.sampled_from(["=", "\t"])))
    path.write_bytes(data.draw(file_bytes(body) | pathological_json().map(str.encode), label="file"))
    names = user_error_or(parse_label_names, str(path))
    if names is not None:
        assert names and all(raw.strip() == raw and raw and name.strip() == name and name for raw, name in names.items())
        assert len(set(names.values())) == len(names)


@FUZZ
@given(pairs=st.dictionaries(st.text(alphabet=_TSV_CHARS.replace("=", "").replace("#", ""), min_size=1, max_size=8).map(str.strip)
                             .filter(bool), label_words.map(str.strip).filter(lambda s: "\n" not in s and "\r" not in s),
                             min_size=1, max_size=5).filter(lambda d: len(set(d.values())) == len(d)),
       as_json=st.booleans())
def test_label_names_files_round_trip(workdir, pairs, as_json):
    """Pairs written as RAW<TAB>NAME lines or a JSON object read back as the same mapping."""
    path = workdir / ("names.json" if as_json else "names.txt")
    text = json.dumps(pairs, ensure_ascii=False) if as_json else "".join(f"{raw}\t{name}\n" for raw, name in pairs.items())
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert parse_label_names(str(path)) == pairs
