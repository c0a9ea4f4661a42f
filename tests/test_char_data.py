"""Character corpora as id streams, their chunking, and the offline download message."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from data_processor.char_corpus import continuation_pairs, load_char_corpus, read_lines
from data_processor.char_stream import (
    consecutive_chunks,
    consecutive_steps,
    random_chunks,
    random_steps,
)
from data_processor.corpora import corpus_path
from data_processor.base.errors import DataError
from data_processor.vocab import EOS, UNK


def test_line_corpus_keeps_line_boundaries_as_eos(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("Abc\n\n  Bca  \nCab\nAcb\nBac\n", encoding="utf-8")
    corpus = load_char_corpus(str(path), line_oriented=True, val_ratio=0.3)
    vocab = corpus.vocab
    assert vocab.itos[:2] == [UNK, EOS]
    decoded = vocab.decode(corpus.train_ids.tolist())
    assert "".join(decoded) == "<eos>Abc<eos>Bca<eos>Cab<eos>"  # blank line dropped, spaces stripped
    assert corpus.val_lines == ["Acb", "Bac"]  # the tail is held out
    assert "".join(vocab.decode(corpus.val_ids.tolist())) == "<eos>Acb<eos>Bac<eos>"
    assert corpus.train_ids.dtype == np.int64


def test_running_text_split_at_a_line_start_with_newlines_kept(tmp_path):
    path = tmp_path / "text.txt"
    text = "".join(f"line number {i}\n" for i in range(20))
    path.write_text(text, encoding="utf-8")
    corpus = load_char_corpus(str(path), val_ratio=0.25)
    assert not corpus.line_oriented and EOS not in corpus.vocab
    train = "".join(corpus.vocab.decode(corpus.train_ids.tolist()))
    val = "".join(corpus.vocab.decode(corpus.val_ids.tolist()))
    assert train + val == text
    assert train.endswith("\n") and val.startswith("line number")
    assert corpus.val_lines == val.splitlines()


def test_empty_and_tiny_corpora_are_data_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_char_corpus(str(empty))
    one = tmp_path / "one.txt"
    one.write_text("single line\n", encoding="utf-8")
    with pytest.raises(DataError, match="too few"):
        load_char_corpus(str(one), line_oriented=True)
    with pytest.raises(DataError, match="neither a corpus name"):
        load_char_corpus(str(tmp_path / "missing.txt"))


def test_consecutive_chunks_continue_each_other_lane_by_lane():
    ids = np.arange(103)
    chunks = list(consecutive_chunks(ids, batch=4, seq_len=10, offset=2))
    assert len(chunks) == consecutive_steps(len(ids), 4, 10, offset=2)
    inputs = np.concatenate([x for x, _ in chunks], axis=1)
    targets = np.concatenate([y for _, y in chunks], axis=1)
    assert inputs.shape == (4, 25)
    np.testing.assert_array_equal(targets, inputs + 1)  # next-character targets
    np.testing.assert_array_equal(inputs[:, 0], [2, 27, 52, 77])  # lanes are contiguous slices
    assert all(np.array_equal(np.diff(row), np.ones(24)) for row in inputs)
    assert chunks[-1][0].shape == (4, 5)  # the last chunk is shorter


def test_consecutive_chunks_use_fewer_lanes_for_a_short_stream():
    chunks = list(consecutive_chunks(np.arange(15), batch=8, seq_len=6))
    assert chunks[0][0].shape == (2, 6)


def test_random_chunks_are_shifted_pairs_of_the_stream():
    ids = np.arange(1000) * 3
    rng = np.random.default_rng(0)
    batches = list(random_chunks(ids, batch=5, seq_len=8, rng=rng))
    assert len(batches) == random_steps(len(ids), 5, 8) == 24  # 124 chunks of 8, five at a time
    starts = set()
    for x, y in batches:
        assert x.shape == (5, 8)
        np.testing.assert_array_equal(y, x + 3)
        np.testing.assert_array_equal(np.diff(x, axis=1), 3)
        starts.update(x[:, 0].tolist())
    assert len(starts) == 5 * len(batches)  # no chunk twice
    again = list(random_chunks(ids, batch=5, seq_len=8, rng=np.random.default_rng(0)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))


def test_offline_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataError) as info:
        corpus_path("dinos", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "could not download dinos" in message and "name resolution" in message
    assert str(tmp_path / "cache" / "dinos.txt") in message and "--corpus PATH" in message
    assert not (tmp_path / "cache" / "dinos.txt").exists()


def test_continuation_pairs_cut_lines_in_half():
    prefixes, golds = continuation_pairs(["abcd", "x", "", "hello", " spaced line "], count=2)
    assert prefixes == ["ab", "he"] and golds == ["cd", "llo"]


def test_read_lines_keeps_blank_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("a\n\nb\n", encoding="utf-8")
    assert read_lines(path) == ["a", "", "b"]
    with pytest.raises(DataError, match="no such file"):
        read_lines(tmp_path / "nope.txt")


def test_shuffled_line_corpus_is_reproducible(tmp_path):
    names = [f"Name{i:03d}" for i in range(100)]
    path = tmp_path / "sorted.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    first, again, other = (load_char_corpus(str(path), True, 0.1, shuffle_seed=seed) for seed in (1, 1, 2))
    assert first.val_lines == again.val_lines != other.val_lines
    assert first.val_lines != names[-10:] and set(first.val_lines) <= set(names)
    assert np.array_equal(first.train_ids, again.train_ids)
    assert load_char_corpus(str(path), True, 0.1).val_lines == names[-10:]
