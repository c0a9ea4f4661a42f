"""The token cache, parallel segmentation and rjieba: same tokens, less work."""

import json
import os
import sys
import tempfile

import numpy as np
import pytest

from data_processor.datasets import load_classification_dataset
from data_processor.base.errors import ConfigError, DataError
from data_processor.parallel_tokenize import CHUNK_TEXTS, tokenize_all, tokenize_stream
from data_processor.token_cache import cache_key, cached_tokens
from data_processor.tokenizers import JiebaTokenizer, get_tokenizer, tokenizer_identity
from tests.helpers import run_cli

TEXTS = ["这家店 很好吃", "服务 太差 了", "", "性价比 高 高"]


class CountingTokenizer:
    def __init__(self):
        self.calls = 0

    def __call__(self, text):
        self.calls += 1
        return text.split()


@pytest.fixture(scope="module")
def reviews():
    splits = load_classification_dataset("reviews-zh")
    return [e.text for e in splits.train[:3000]]


def entries(directory):
    """The cache entries in ``directory`` (directories named by their key; no temporary ones left behind)."""
    return sorted(p for p in directory.iterdir())


def test_second_call_reads_the_cache_without_tokenizing(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    first = cached_tokens(TEXTS, tokenize, "split", frozenset({"了"}), tmp_path, progress=False, log=logs.append)
    assert list(first) == [["这家店", "很好吃"], ["服务", "太差"], [], ["性价比", "高", "高"]]
    assert tokenize.calls == len(TEXTS)
    (entry,) = entries(tmp_path)
    assert entry.is_dir() and entry.name == cache_key(TEXTS, "split", frozenset({"了"}))
    second = cached_tokens(TEXTS, tokenize, "split", frozenset({"了"}), tmp_path, progress=False, log=logs.append)
    assert list(second) == list(first) and tokenize.calls == len(TEXTS)
    assert "from the cache" in logs[-1]
    assert isinstance(second.ids, np.memmap) and isinstance(second.offsets, np.memmap)  # read in place, not loaded


def test_texts_stream_from_a_restartable_iterable_read_twice_at_most(tmp_path):
    class Passes:
        def __init__(self):
            self.count = 0

        def __iter__(self):
            self.count += 1
            return iter(TEXTS)

    texts, tokenize = Passes(), CountingTokenizer()
    assert list(cached_tokens(texts, tokenize, "split", frozenset(), tmp_path, progress=False, log=lambda _: None))[3] == ["性价比", "高", "高"]
    assert texts.count == 2  # one pass for the key, one to tokenize
    cached_tokens(texts, tokenize, "split", frozenset(), tmp_path, progress=False, log=lambda _: None)
    assert texts.count == 3  # a hit reads them once


def test_texts_that_change_between_the_two_readings_are_an_error(tmp_path):
    class Changing:
        def __init__(self):
            self.passes = 0

        def __iter__(self):
            self.passes += 1
            return iter(TEXTS if self.passes == 1 else TEXTS[:-1] + ["别的"])

    with pytest.raises(DataError, match="the texts changed between two readings"):
        cached_tokens(Changing(), CountingTokenizer(), "split", frozenset(), tmp_path, progress=False, log=lambda _: None)
    assert entries(tmp_path) == []  # nothing half-built is left


def test_key_changes_with_texts_tokenizer_and_stopwords():
    base = cache_key(TEXTS, "jieba; hmm True", frozenset())
    assert cache_key(list(TEXTS), "jieba; hmm True", frozenset()) == base
    assert cache_key(TEXTS[:3], "jieba; hmm True", frozenset()) != base
    assert cache_key(["这家店 很好吃", "服务 太差 了", "", "性价比 高"], "jieba; hmm True", frozenset()) != base
    assert cache_key(TEXTS, "jieba; hmm False", frozenset()) != base
    assert cache_key(TEXTS, "jieba; hmm True", frozenset({"了"})) != base
    # texts are delimited: moving a character across a boundary changes the key
    assert cache_key(["ab", "c"], "t", frozenset()) != cache_key(["a", "bc"], "t", frozenset())


def test_tokenizer_identity_follows_options_and_user_dictionary(tmp_path):
    user_dict = tmp_path / "dict.txt"
    user_dict.write_text("性价比 10\n", encoding="utf-8")
    before = tokenizer_identity("jieba", user_dict)
    assert before != tokenizer_identity("jieba") != tokenizer_identity("jieba", hmm=False)
    user_dict.write_text("性价比 20\n", encoding="utf-8")
    assert tokenizer_identity("jieba", user_dict) != before


def _truncate(entry):
    ids = entry / "ids.npy"
    ids.write_bytes(ids.read_bytes()[:50])


def _id_out_of_range(entry):
    ids = np.load(entry / "ids.npy")
    ids[0] = 99
    np.save(entry / "ids.npy", ids)


def _offsets_off(entry):
    offsets = np.load(entry / "offsets.npy")
    offsets[1] = offsets[2] + 1  # a text that would end before it starts
    np.save(entry / "offsets.npy", offsets)


def _int64_ids(entry):
    np.save(entry / "ids.npy", np.load(entry / "ids.npy").astype(np.int64))


def _no_meta(entry):
    (entry / "meta.json").unlink()


def _entry_is_a_file(entry):
    import shutil

    shutil.rmtree(entry)
    entry.write_text("not a directory")


@pytest.mark.parametrize("damage, why", [(_truncate, ""), (_id_out_of_range, "a token id is out of range"),
                                         (_offsets_off, "its counts do not add up"), (_int64_ids, "ids.npy is not a one-dimensional int32"),
                                         (_no_meta, "meta.json"), (_entry_is_a_file, "")])
def test_damaged_entries_are_rebuilt_with_a_warning(tmp_path, damage, why):
    tokenize, logs = CountingTokenizer(), []
    cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    (entry,) = entries(tmp_path)
    damage(entry)
    again = cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    assert list(again) == [t.split() for t in TEXTS] and tokenize.calls == 2 * len(TEXTS)
    warning = [m for m in logs if m.startswith("warning:")]
    assert len(warning) == 1 and "damaged token cache entry" in warning[0] and why in warning[0], warning
    assert entries(tmp_path) == [entry] and entry.is_dir()  # the damaged entry was replaced; no temporary directory is left
    assert list(cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)) == list(again)
    assert tokenize.calls == 2 * len(TEXTS) and "from the cache" in logs[-1]


def test_an_entry_of_other_texts_under_the_name_is_rebuilt(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    (entry,) = entries(tmp_path)
    other = tmp_path / "other"
    cached_tokens(["别的 文本"], tokenize, "split", frozenset(), other, progress=False, log=logs.append)
    import shutil

    shutil.rmtree(entry)
    next(other.iterdir()).rename(entry)  # a well-formed entry of other texts under this name: its key does not match
    shutil.rmtree(other)
    assert list(cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append))[0] == ["这家店", "很好吃"]
    assert "other texts or settings" in [m for m in logs if m.startswith("warning:")][-1]
    meta = json.loads((entry / "meta.json").read_text())  # and the rebuilt entry is right again
    assert meta["key"] == cache_key(TEXTS, "split", frozenset()) and meta["texts"] == len(TEXTS)


def test_no_directory_means_no_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the store is built: its files are removed once mapped
    tokenize = CountingTokenizer()
    first = cached_tokens(TEXTS, tokenize, "split", frozenset(), None, progress=False, log=lambda _: None)
    second = cached_tokens(TEXTS, tokenize, "split", frozenset(), None, progress=False, log=lambda _: None)
    assert tokenize.calls == 2 * len(TEXTS)
    assert list(first) == list(second) == [t.split() for t in TEXTS] and list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_parallel_jieba_gives_exactly_the_single_process_tokens(reviews):
    tokenize = JiebaTokenizer()
    serial = tokenize_all(reviews, tokenize, workers=1, progress=False)
    parallel = tokenize_all(reviews, tokenize, workers=2, progress=False, min_chars=0)
    assert parallel == serial and len(serial) == len(reviews)



def test_parallel_keeps_tokens_that_hold_the_separators_and_empty_texts():
    # Workers send a chunk back as one joined string; tokens that would not survive the join go back as lists.
    texts = ["a\x1fb c", "", "plain words here", "x\x1ey"] * 300 + ["only plain text"] * 600

    def tokenize(text: str) -> list[str]:
        return text.split(" ") if text else []

    serial = tokenize_all(texts, tokenize, workers=1, progress=False)
    parallel = tokenize_all(texts, tokenize, workers=2, progress=False, min_chars=0)
    assert parallel == serial
    assert parallel[0] == ["a\x1fb", "c"] and parallel[1] == [] and parallel[3] == ["x\x1ey"]

def _with_pid(text: str) -> list[str]:
    return [text, str(os.getpid())]


def test_streamed_segmentation_reads_lazily_with_one_pool_for_every_chunk():
    read = []

    def texts():
        for i in range(12 * CHUNK_TEXTS):
            read.append(i)
            yield f"t{i}"

    stream = tokenize_stream(texts(), _with_pid, processes=2, progress=False)
    first = next(stream)
    assert [t for t, _ in first] == [f"t{i}" for i in range(CHUNK_TEXTS)]
    assert len(read) <= 5 * CHUNK_TEXTS  # at most 2 x 2 chunks in flight (and the one being read), not the whole stream
    tokens = first + [t for chunk in stream for t in chunk]
    assert [t for t, _ in tokens] == [f"t{i}" for i in range(12 * CHUNK_TEXTS)]
    pids = {pid for _, pid in tokens}
    assert len(pids) <= 2 and str(os.getpid()) not in pids  # the same two workers served all 12 chunks


@pytest.mark.e2e
def test_rjieba_is_jieba_without_hmm_on_real_reviews(reviews):
    pytest.importorskip("rjieba", reason="rjieba is optional (pip install rjieba==0.2.2)")
    rjieba = get_tokenizer("rjieba")
    jieba_no_hmm = get_tokenizer("jieba", hmm=False)
    assert [rjieba(t) for t in reviews] == [jieba_no_hmm(t) for t in reviews]


def test_rjieba_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rjieba", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"rjieba is not installed: pip install rjieba==0\.2\.2"):
        get_tokenizer("rjieba")


@pytest.mark.e2e
def test_second_cli_run_uses_the_cache(sample, tmp_path):
    args = ["--model", "gru", "--train", str(sample["train"]), "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
            "--no-progress", "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "--token-cache", str(tmp_path / "cache"),
            "--vectors-corpus", "none", "--min-steps", "0"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "tokens: train: tokenized" in first.stderr and "from the cache" not in first.stderr
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "tokens: train: 1600 texts from the cache" in second.stderr  # the whole file: the dev split is rows of it
    assert "tokens: train: tokenized" not in second.stderr
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]  # the same dev accuracy


def test_a_pickled_entry_is_not_loaded_and_numpy_advice_is_not_repeated(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    (entry,) = entries(tmp_path)
    np.save(entry / "ids.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert list(cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append))[0] == ["这家店", "很好吃"]
    warning = [m for m in logs if m.startswith("warning:")][-1]
    assert "it holds pickled objects" in warning and "allow_pickle" not in warning


@pytest.mark.parametrize("blocker", ["file", "readonly"])
def test_a_cache_that_cannot_be_written_is_a_warning_not_a_crash(tmp_path, blocker):
    import os

    if blocker == "file":
        where = tmp_path / "cache"
        where.write_text("a file where the cache directory should be")
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write to a read-only directory")
        tmp_path.chmod(0o500)
        where = tmp_path / "cache"
    tokenize, logs = CountingTokenizer(), []
    try:
        tokens = cached_tokens(TEXTS, tokenize, "split", frozenset(), where, progress=False, log=logs.append)
    finally:
        tmp_path.chmod(0o700)
    assert tokens[1] == ["服务", "太差", "了"] and list(tokens)[3] == ["性价比", "高", "高"]
    assert "warning: could not write the token cache" in logs[-1] and "the next run segments again" in logs[-1]


def test_an_entry_gets_the_usual_permissions(tmp_path):
    cached_tokens(TEXTS, CountingTokenizer(), "split", frozenset(), tmp_path, progress=False, log=lambda _: None)
    (entry,) = entries(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert entry.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700
    assert all(f.stat().st_mode & 0o777 == 0o666 & ~umask for f in entry.iterdir())
