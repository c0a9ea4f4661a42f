"""Word vectors -> lookup matrix: every file format, coverage, the cache, trained vectors and bad files."""

from __future__ import annotations

import bz2
import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from gensim.models import FastText, KeyedVectors, Word2Vec

from data_processor.base.errors import DataError
from data_processor.token_store import TokenLists, TokenStore
from data_processor.vectors import cache as embedding_cache
from data_processor.vectors import lookup as emb_module
from data_processor.vectors.files import open_vectors, read_rows
from data_processor.vectors.lookup import (
    EXACT,
    LOWER,
    MISSING,
    SUBWORD,
    embedding_from_file,
    embedding_from_training,
    lookup,
    sentences_digest,
)
from train.vectors.training import (
    Sentences,
    corpus_sentences,
    train_word_vectors,
)
from data_processor.vocab import Vocab

DIM = 6
SENTENCES = [["好", "很好", "Apple", "退货"], ["很好", "退货", "缺失"], ["好", "Banana", "缺失"]]


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """Every cache this module makes lives in tmp_path."""
    monkeypatch.setenv(embedding_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


class Log(list):
    def __call__(self, message: str) -> None:
        self.append(message)

    def text(self) -> str:
        return "\n".join(self)


def keyed(words: list[str], dim: int = DIM, seed: int = 0) -> KeyedVectors:
    kv = KeyedVectors(dim)
    kv.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32))
    return kv


def vocab_of(sentences=SENTENCES, min_freq: int = 1) -> Vocab:
    return Vocab.build(sentences, min_freq=min_freq)


def build(path: Path, vocab: Vocab, seed: int = 0, cache: Path | None = None, log: Log | None = None):
    return embedding_from_file(open_vectors(path, trust_pickle=True), vocab, seed, str(cache) if cache else None,
                               log if log is not None else Log())


# words in the file: two vocabulary tokens, a lower-cased form of one, and words the vocabulary lacks
FILE_WORDS = ["好", "退货", "apple", "其他", "another", "词"]


def save_text(kv, path):
    kv.save_word2vec_format(str(path), binary=False)


def save_binary(kv, path):
    kv.save_word2vec_format(str(path), binary=True)


def save_glove(kv, path):
    kv.save_word2vec_format(str(path), binary=False, write_header=False)


def save_kv(kv, path):
    kv.save(str(path))


def save_text_bz2(kv, path):
    kv.save_word2vec_format(str(path.with_suffix("")), binary=False)
    path.write_bytes(bz2.compress(path.with_suffix("").read_bytes()))


@pytest.mark.parametrize("name,save,fmt", [
    ("vectors.txt", save_text, "word2vec-text"),
    ("vectors.bin", save_binary, "word2vec-binary"),
    ("glove.txt", save_glove, "glove"),
    ("vectors.kv", save_kv, "gensim"),
    ("vectors.txt.bz2", save_text_bz2, "word2vec-text"),
])
def test_each_format_round_trips_exact_rows(tmp_path, name, save, fmt):
    kv = keyed(FILE_WORDS)
    path = tmp_path / name
    save(kv, path)
    vectors = open_vectors(path, trust_pickle=True)
    assert (vectors.format, vectors.dim) == (fmt, DIM)
    vocab = vocab_of()
    emb = build(path, vocab)
    assert emb.matrix.shape == (len(vocab), DIM) and emb.matrix.dtype == np.float32
    for word in ("好", "退货"):
        assert np.array_equal(emb.matrix[vocab[word]], kv[word])
    assert np.array_equal(emb.matrix[vocab["Apple"]], kv["apple"])  # the lower-cased form
    assert not emb.matrix[vocab.pad_id].any()
    assert emb.coverage["exact"] == 2 and emb.coverage["lowercase"] == 1 and emb.coverage["missing"] == 3


def test_gensim_model_file_and_fasttext_subwords(tmp_path):
    w2v = Word2Vec(SENTENCES, vector_size=DIM, min_count=1, seed=1, workers=1, epochs=2)
    w2v.save(str(tmp_path / "w2v.model"))
    vocab = vocab_of()
    emb = build(tmp_path / "w2v.model", vocab)
    for word in ("好", "很好", "Apple", "缺失"):
        assert np.array_equal(emb.matrix[vocab[word]], w2v.wv[word])
    assert emb.coverage["token_coverage"] == 1.0

    # FastText that never saw "Banana" (min_count 2) still gives it a vector from its character n-grams
    ft = FastText(SENTENCES, vector_size=DIM, min_count=2, seed=1, workers=1, epochs=2, bucket=1000, min_n=2, max_n=4)
    ft.save(str(tmp_path / "ft.model"))
    emb = build(tmp_path / "ft.model", vocab)
    assert "Banana" not in ft.wv.key_to_index
    assert np.allclose(emb.matrix[vocab["Banana"]], ft.wv["Banana"])
    assert emb.coverage["subword"] >= 1 and emb.coverage["exact"] == len(ft.wv.key_to_index)


def test_missing_rows_are_seeded_random_and_pad_is_zero(tmp_path):
    save_text(keyed(FILE_WORDS), tmp_path / "v.txt")
    vocab = vocab_of()
    a, b, c = (build(tmp_path / "v.txt", vocab, seed=s) for s in (3, 3, 4))
    missing = [vocab[t] for t in ("很好", "缺失", "Banana")] + [vocab.unk_id]
    assert np.array_equal(a.matrix, b.matrix)
    assert not np.array_equal(a.matrix[missing], c.matrix[missing])
    assert all(a.matrix[i].any() for i in missing)
    assert not a.matrix[vocab.pad_id].any()
    assert np.abs(a.matrix[missing]).max() < 10 * np.abs(a.matrix[[vocab["好"], vocab["退货"]]]).max()


def test_exact_token_wins_over_lower_cased_form(tmp_path):
    kv = keyed(["banana", "Banana", "APPLE"])  # the lower-cased form comes first in the file
    save_text(kv, tmp_path / "v.txt")
    vocab = vocab_of()
    emb = build(tmp_path / "v.txt", vocab)
    assert np.array_equal(emb.matrix[vocab["Banana"]], kv["Banana"])
    # only the token is lower-cased, not the file's words: APPLE does not match Apple
    assert emb.coverage["found"] == 1


def test_coverage_figures_hand_checked(tmp_path):
    # counts: a 3, b 2, X 2, d 1, e 1 (9 occurrences); min_freq 2 keeps a, b, X
    vocab = Vocab.build([["a", "a", "a", "b", "X"], ["b", "X", "d", "e"]], min_freq=2)
    save_text(keyed(["a", "x", "d"]), tmp_path / "v.txt")
    log = Log()
    emb = build(tmp_path / "v.txt", vocab, log=log)
    assert emb.coverage == {
        "vocab_tokens": 3, "found": 2, "exact": 1, "lowercase": 1, "subword": 0, "missing": 1,
        "token_coverage": 2 / 3, "occurrences": 9, "occurrences_covered": 5, "occurrence_coverage": 5 / 9,
    }
    assert "2 of 3 vocabulary tokens found (66.7%)" in log.text() and "covering 55.6% of training-token occurrences" in log.text()


def test_cache_is_used_the_second_time_and_rebuilt_when_the_file_changes(tmp_path, cache_in_tmp, monkeypatch):
    path = tmp_path / "v.txt"
    save_text(keyed(FILE_WORDS, seed=0), path)
    vocab = vocab_of()
    first = build(path, vocab)
    assert first.details["from_cache"] is False
    cached = [p for p in cache_in_tmp.iterdir()]
    assert [p.suffix for p in cached] == [".npz"]  # one file, no temporary left behind

    def no_scan(*args, **kwargs):
        raise AssertionError("the file was scanned although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(emb_module, "read_rows", no_scan)
        second = build(path, vocab)
    assert second.details["from_cache"] is True
    assert np.array_equal(first.matrix, second.matrix) and first.coverage == second.coverage

    changed = keyed(FILE_WORDS, seed=1)
    mtime = path.stat().st_mtime_ns
    save_text(changed, path)
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    log = Log()
    third = build(path, vocab, log=log)
    assert third.details["from_cache"] is False and "stale" in log.text()
    assert np.array_equal(third.matrix[vocab["好"]], changed["好"])
    assert build(path, vocab).details["from_cache"] is True

    other_vocab = vocab_of([["好", "词"]])  # another vocabulary: its own cache entry, never the first one's rows
    other = build(path, other_vocab)
    assert other.details["from_cache"] is False and other.details["cache"] != third.details["cache"]
    assert np.array_equal(other.matrix[other_vocab["词"]], changed["词"])


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_cache_is_rebuilt(tmp_path, damage):
    path = tmp_path / "v.txt"
    kv = keyed(FILE_WORDS)
    save_text(kv, path)
    vocab = vocab_of()
    cache_file = Path(build(path, vocab).details["cache"])
    data = cache_file.read_bytes()
    cache_file.write_bytes(b"not a cache" * 10 if damage == "garbage" else data[: len(data) // 2])
    log = Log()
    rebuilt = build(path, vocab, log=log)
    assert rebuilt.details["from_cache"] is False and "unreadable" in log.text()
    assert np.array_equal(rebuilt.matrix[vocab["好"]], kv["好"])
    assert build(path, vocab).details["from_cache"] is True


def test_explicit_cache_dir_wins(tmp_path):
    save_text(keyed(FILE_WORDS), tmp_path / "v.txt")
    emb = build(tmp_path / "v.txt", vocab_of(), cache=tmp_path / "elsewhere")
    assert Path(emb.details["cache"]).parent == tmp_path / "elsewhere"


def test_odd_whitespace_bytes_and_bad_rows(tmp_path):
    path = tmp_path / "odd.txt"
    lines = [
        b"6 3\r\n",
        b"\xe5\xa5\xbd\xff 0.5 0.25 -1 \r\n",  # a stray byte after the word (dropped), trailing space, CRLF
        b"\xe5\xbe\x88\xe5\xa5\xbd 1 nan 2\n",  # NaN: skipped
        b"\xe9\x80\x80\xe8\xb4\xa7 1 2\n",  # two values, not three: skipped
        b"\xe9\x80\x80\xe8\xb4\xa7 1 2 3 4\n",  # four values: skipped
        b"\xe7\xbc\xba\xe5\xa4\xb1\t7  8\t9\n",  # tabs and double spaces
        b"unused 1 2 x\n",  # not wanted: never parsed
    ]
    path.write_bytes(b"".join(lines))
    vocab = vocab_of()
    log = Log()
    emb = build(path, vocab, log=log)
    assert np.array_equal(emb.matrix[vocab["好"]], np.array([0.5, 0.25, -1], dtype=np.float32))
    assert np.array_equal(emb.matrix[vocab["缺失"]], np.array([7, 8, 9], dtype=np.float32))
    assert emb.details["skipped_rows"] == 3 and emb.coverage["found"] == 2
    assert "skipped 3 wanted rows" in log.text() and f"{path}:3" in log.text()


def test_words_with_spaces_and_repeated_words(tmp_path):
    path = tmp_path / "spaces.txt"
    path.write_text("3 2\nNew York 1 2\nNew 3 4\nNew 5 6\n", encoding="utf-8")
    found = read_rows(open_vectors(path), {"New York", "New"})
    assert {w: v.tolist() for w, v in found.rows.items()} == {"New York": [1, 2], "New": [3, 4]}  # the first "New" wins
    assert found.rows_read == 3 and found.skipped == 0


def test_zero_coverage_warns_loudly(tmp_path):
    save_text(keyed(["很好", "退货"]), tmp_path / "words.txt")
    chars = vocab_of([list("好坏差")])  # a character vocabulary against word vectors
    log = Log()
    emb = build(tmp_path / "words.txt", chars, log=log)
    assert emb.coverage["found"] == 0
    assert "WARNING: none of the 3 vocabulary tokens has a vector" in log.text() and "tokenizer" in log.text()


@pytest.mark.parametrize("content,fragments", [
    (None, ["no such vectors file"]),
    (b"", ["is empty"]),
    (b"text,label\nhello,1\n", ["not a vectors file", ":1:", "word2vec text"]),
    (b"3 5\nw 1 2 3 4\n", [":2:", "says 5 values per row, but this row has 4"]),
])
def test_bad_files_are_clear_data_errors(tmp_path, content, fragments):
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        open_vectors(path)
    assert str(path) in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_binary_file_with_a_wrong_header_is_an_error(tmp_path):
    path = tmp_path / "v.bin"
    save_binary(keyed(FILE_WORDS), path)
    data = path.read_bytes()
    (tmp_path / "short.bin").write_bytes(data[:-10])
    with pytest.raises(DataError, match="ends inside row 6 of the 6"):
        read_rows(open_vectors(tmp_path / "short.bin"), {"好"})
    (tmp_path / "count.bin").write_bytes(data.replace(b"6 6\n", b"5 6\n", 1))
    with pytest.raises(DataError, match="data follows the 5 rows"):
        read_rows(open_vectors(tmp_path / "count.bin"), {"好"})


def test_trained_vectors_are_seeded_fill_the_matrix_and_are_cached(tmp_path):
    sentences = SENTENCES * 20
    a = train_word_vectors(sentences, "word2vec", dim=8, epochs=2, seed=5)
    b = train_word_vectors(sentences, "word2vec", dim=8, epochs=2, seed=5)
    assert np.array_equal(a.vectors, b.vectors)
    vocab = vocab_of()
    calls = []

    def train():
        calls.append(1)
        return a

    recipe = {"method": "word2vec", "dim": 8, "seed": 5}
    emb = embedding_from_training(train, recipe, sentences, vocab, seed=0, source="test", cache_dir=str(tmp_path), log=Log())
    assert emb.coverage["token_coverage"] == 1.0
    for word in ("好", "Banana"):
        assert np.array_equal(emb.matrix[vocab[word]], a[word])
    again = embedding_from_training(train, recipe, sentences, vocab, seed=0, source="test", cache_dir=str(tmp_path), log=Log())
    assert len(calls) == 1 and np.array_equal(again.matrix, emb.matrix)  # the second time from the cache
    embedding_from_training(train, {**recipe, "seed": 6}, sentences, vocab, seed=0, source="test", cache_dir=str(tmp_path), log=Log())
    embedding_from_training(train, recipe, sentences[:-1], vocab, seed=0, source="test", cache_dir=str(tmp_path), log=Log())
    assert len(calls) == 3  # another recipe or other sentences train again

    ft = train_word_vectors(sentences, "fasttext", dim=8, epochs=2, seed=5, min_count=30)
    matrix, status = lookup(vocab, emb_module.rows_from_keyed_vectors(ft, emb_module.wanted_words(vocab)))
    assert status[vocab["Banana"]] == SUBWORD and status[vocab["很好"]] == EXACT  # Banana: 20 < 30 occurrences
    assert np.allclose(matrix[vocab["Banana"]], ft["Banana"])
    assert status[vocab.pad_id] == MISSING and LOWER not in status


def test_corpus_sentences_file_and_peoples_daily(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("好 很好\n\n退货  缺失 \n", encoding="utf-8")
    assert corpus_sentences(str(path), str.split) == [["好", "很好"], ["退货", "缺失"]]
    pd = corpus_sentences("peoples-daily", str.split)
    assert len(pd) > 10000 and all(pd)
    assert pd[0][:2] == ["迈向", "充满"]
    with pytest.raises(DataError, match="neither a corpus name"):
        corpus_sentences(str(tmp_path / "missing.txt"), str.split)


class _RunsCode:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.bin", "vectors.kv", "vectors.model"])
def test_a_pickle_is_never_unpickled_without_trust_pickle(tmp_path, name):
    import pickle

    marker = tmp_path / "ran"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=4))
    with pytest.raises(DataError) as info:
        open_vectors(path)
    message = str(info.value)
    assert "--trust-pickle" in message if name.endswith((".kv", ".model")) else "not named .kv or .model" in message
    if name.endswith((".kv", ".model")):
        assert open_vectors(path, trust_pickle=True, unpickle=False).dim is None  # a dry run opens nothing
    else:
        with pytest.raises(DataError, match="not named .kv or .model"):  # content alone never makes a file a pickle to load
            open_vectors(path, trust_pickle=True)
    assert not marker.exists()


def test_corrupt_gzip_data_is_a_data_error(tmp_path):
    # found by tests/test_fuzz.py: a .gz file with a valid header but corrupt deflate data raised zlib.error
    broken = tmp_path / "v.txt.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x00" * 5)
    with pytest.raises(DataError, match=r"v\.txt\.gz: cannot be read \(Error -3 while decompressing data"):
        open_vectors(broken)
    # the damage past the rows open_vectors reads: a second gzip member whose data is garbage
    import gzip

    rows = b"".join(b"w%d 0.5 0.25 1\n" % i for i in range(3000))
    later = tmp_path / "later.txt.gz"
    later.write_bytes(gzip.compress(b"3001 3\n" + rows) + gzip.compress(b"x 1 2 3\n")[:10] + b"\x07" * 40)
    with pytest.raises(DataError, match=r"later\.txt\.gz: cannot be read \(Error -3 while decompressing data"):
        read_rows(open_vectors(later), {"w1"})


@pytest.mark.parametrize("dim", ["99999999999999999999", "999999999999"])
def test_absurd_header_dimension_is_a_data_error(tmp_path, dim):
    # found by tests/test_fuzz.py: sniffing for a binary row read 4 * dim bytes: OverflowError, or MemoryError
    path = tmp_path / "v.bin"
    path.write_bytes(f"3 {dim}\n".encode() + b"abc \x00\x00\x80\x3f\n")
    with pytest.raises(DataError, match=r"v\.bin:2: after the header 'count dim', neither a text row"):
        open_vectors(path)


def test_streamed_sentences_train_and_key_the_cache_as_a_list_of_them_does():
    store = TokenStore.from_lists([[], *SENTENCES * 20, ["\ud800", "好"], []])
    sentences = Sentences([TokenLists(store), [[], ["退货", "好"]]])
    as_list = [*SENTENCES * 20, ["\ud800", "好"], ["退货", "好"]]
    assert list(sentences) == as_list and list(sentences) == as_list  # empty ones skipped; restartable
    joined = "\n".join("\t".join(s) for s in as_list).encode("utf-8", "surrogatepass")
    assert sentences_digest(sentences) == sentences_digest(as_list) == hashlib.sha256(joined).hexdigest()  # the former key
    streamed = train_word_vectors(sentences, "word2vec", dim=8, epochs=2, seed=5)
    assert np.array_equal(streamed.vectors, train_word_vectors(as_list, "word2vec", dim=8, epochs=2, seed=5).vectors)


class FakeTerminal(io.StringIO):
    """stderr as a terminal, so progress bars draw."""

    def isatty(self) -> bool:
        return True


def test_word_vector_training_moves_a_progress_bar_from_gensims_own_lines(monkeypatch):
    import logging

    from gensim.models import Word2Vec

    from train.vectors.training import _gensim_progress

    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    logger = logging.getLogger("gensim")
    before = (logger.level, logger.propagate, list(logger.handlers))
    with _gensim_progress(3, "word2vec", show=True) as bar:
        Word2Vec(SENTENCES * 50, vector_size=4, epochs=3, min_count=1, workers=1, seed=1)
        assert bar.n == bar.total == 300  # each epoch's end line moved it a third of the way
    assert (logger.level, logger.propagate, list(logger.handlers)) == before  # gensim's logging is left as it was
    assert "word2vec vectors" in sys.stderr.getvalue()
    kv = train_word_vectors(SENTENCES, "word2vec", dim=4, epochs=2, seed=5, progress=True)
    assert len(kv.index_to_key) == 6
