"""The token cache, parallel segmentation and rjieba: same tokens, less work."""

import sys

import numpy as np
import pytest

from data_processor.datasets import load_classification_dataset
from data_processor.errors import ConfigError
from data_processor.parallel_tokenize import tokenize_all
from data_processor.token_cache import cache_key, cached_tokens
from data_processor.tokenizers import JiebaTokenizer, get_tokenizer, tokenizer_identity
from tests.conftest import run_cli

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


def test_second_call_reads_the_cache_without_tokenizing(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    first = cached_tokens(TEXTS, tokenize, "split", frozenset({"了"}), tmp_path, progress=False, log=logs.append)
    assert first == [["这家店", "很好吃"], ["服务", "太差"], [], ["性价比", "高", "高"]]
    assert tokenize.calls == len(TEXTS) and len(list(tmp_path.glob("*.npz"))) == 1
    second = cached_tokens(TEXTS, tokenize, "split", frozenset({"了"}), tmp_path, progress=False, log=logs.append)
    assert second == first and tokenize.calls == len(TEXTS)
    assert "from the cache" in logs[-1]


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


def test_damaged_or_foreign_entries_are_rebuilt(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    entry = next(tmp_path.glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:50])  # truncated
    again = cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    assert again[0] == ["这家店", "很好吃"] and tokenize.calls == 2 * len(TEXTS)
    assert any("damaged token cache entry" in m for m in logs)
    # a well-formed entry of other texts under this name: its key does not match
    other = tmp_path / "other"
    cached_tokens(["别的 文本"], tokenize, "split", frozenset(), other, progress=False, log=logs.append)
    next(other.glob("*.npz")).replace(entry)
    assert cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append) == again
    assert "other texts or settings" in [m for m in logs if m.startswith("warning:")][-1]
    with np.load(entry, allow_pickle=False) as data:  # and the rebuilt entry is right again
        assert str(data["key"]) == cache_key(TEXTS, "split", frozenset())


def test_no_directory_means_no_cache(tmp_path):
    tokenize = CountingTokenizer()
    cached_tokens(TEXTS, tokenize, "split", frozenset(), None, progress=False, log=lambda _: None)
    cached_tokens(TEXTS, tokenize, "split", frozenset(), None, progress=False, log=lambda _: None)
    assert tokenize.calls == 2 * len(TEXTS)


@pytest.mark.slow
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

@pytest.mark.slow
def test_rjieba_is_jieba_without_hmm_on_real_reviews(reviews):
    pytest.importorskip("rjieba", reason="rjieba is optional (pip install rjieba==0.2.2)")
    rjieba = get_tokenizer("rjieba")
    jieba_no_hmm = get_tokenizer("jieba", hmm=False)
    assert [rjieba(t) for t in reviews] == [jieba_no_hmm(t) for t in reviews]


def test_rjieba_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rjieba", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"rjieba is not installed: pip install rjieba==0\.2\.2"):
        get_tokenizer("rjieba")


@pytest.mark.slow
def test_second_cli_run_uses_the_cache(sample, tmp_path):
    args = ["--model", "gru", "--train", str(sample["train"]), "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
            "--no-progress", "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "--token-cache", str(tmp_path / "cache"),
            "--vectors-corpus", "none", "--min-steps", "0"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "tokens: train: tokenized" in first.stderr and "from the cache" not in first.stderr
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "tokens: train: 1440 texts from the cache" in second.stderr and "tokenized" not in second.stderr
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]  # the same dev accuracy


def test_a_pickled_entry_is_not_loaded_and_numpy_advice_is_not_repeated(tmp_path):
    tokenize, logs = CountingTokenizer(), []
    cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)
    entry = next(tmp_path.glob("*.npz"))
    with open(entry, "wb") as fh:
        np.savez(fh, key=np.array([{"a": 1}], dtype=object))
    assert cached_tokens(TEXTS, tokenize, "split", frozenset(), tmp_path, progress=False, log=logs.append)[0] == ["这家店", "很好吃"]
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
    assert tokens[1] == ["服务", "太差", "了"]
    assert "warning: could not write the token cache" in logs[-1] and "the next run segments again" in logs[-1]
