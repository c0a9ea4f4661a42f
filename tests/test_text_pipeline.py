"""prepare_data on files: bounded memory (no list per text), the same splits, labels and token lists as before."""

import csv
import random
import tracemalloc

import pytest

from data_processor.base.errors import DataError
from data_processor.io import Texts
from train.classify.data import load_splits, read_splits
from train.classify.settings import ClassifierConfig
from train.classify.text_pipeline import prepare_data

WORDS = [f"w{i}" for i in range(3000)]


def write_rows(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def generated(path, count, words_per_text=30, seed=0):
    """``count`` rows of ``words_per_text`` random words (whitespace-separated) and a label of three."""
    rng = random.Random(seed)
    return write_rows(path, [(" ".join(rng.choice(WORDS) for _ in range(words_per_text)), "abc"[i % 3]) for i in range(count)])


def config(train, **options):
    return ClassifierConfig(train=str(train), tokenizer="whitespace", token_cache="none", workers=1, progress=False, **options)


def test_preparing_more_rows_does_not_hold_a_list_per_text(tmp_path):
    # 30 tokens a text: a Python list of them costs over 300 bytes, its strings more than 1,000 (the former pipeline: ~2,600
    # bytes a row). Rows cost a few compact numbers each now, and the rest (chunks, blocks, tables) does not grow.
    peaks = {}
    for count in (5000, 20000):
        train = generated(tmp_path / f"{count}.csv", count)
        tracemalloc.start()
        try:
            data = prepare_data(config(train, max_len=20), log=lambda _: None)
            peaks[count] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert data.train.num_rows + data.dev.num_rows == count
    assert (peaks[20000] - peaks[5000]) / 15000 < 200, peaks


def test_a_held_out_dev_split_is_the_same_rows_as_the_examples_split(tmp_path):
    rng = random.Random(1)
    rows = [(" ".join(rng.choice(WORDS[:50]) for _ in range(rng.randint(1, 5))), rng.choice("xyyzzz")) for _ in range(400)]
    rows[7] = ("", "x")  # a bad row, skipped
    train = write_rows(tmp_path / "train.csv", rows)
    cfg = config(train, skip_bad_rows=True, seed=13, dev_ratio=0.25)
    examples, _ = load_splits(cfg, log=lambda _: None)
    splits = read_splits(cfg, log=lambda _: None)
    texts = list(splits.train.data.texts)
    for split, chosen in ((splits.train, examples.train), (splits.dev, examples.dev)):
        assert [texts[i] for i in split.rows] == [e.text for e in chosen]
        assert [int(split.data.lines[i]) for i in split.rows] == [e.line for e in chosen]
        assert [split.data.label_names[c] for c in split.data.codes[split.rows]] == [e.label for e in chosen]


def test_training_token_lists_stream_from_the_store_with_back_off(tmp_path):
    rng = random.Random(2)
    rows = [(" ".join(rng.choice(["好吃", "不贵", "实惠", "好"]) for _ in range(rng.randint(1, 6))), "ab"[i % 2]) for i in range(90)]
    rows[::30] = [("性价比高 好吃", "a")] * 3  # a rare word: spelt out
    train = write_rows(tmp_path / "train.csv", rows)
    data = prepare_data(config(train, min_freq=5, seed=4), log=lambda _: None)
    examples, _ = load_splits(config(train, seed=4), log=lambda _: None)
    expected = [data.pipeline.with_backoff(e.text.split()) for e in examples.train]
    assert list(data.train_tokens) == expected and list(data.train_tokens) == expected  # restartable, as gensim needs
    assert any(len(t) > len(e.text.split()) for t, e in zip(expected, examples.train))  # some rare word was spelt out
    assert list(data.tokenize_texts(["性价比高 好", ""], "more")) == [data.pipeline.with_backoff(["性价比高", "好"]), []]


def test_an_unknown_dev_label_names_the_dev_files_line(tmp_path):
    train = write_rows(tmp_path / "train.csv", [("好 吃", "pos"), ("难 吃", "neg")] * 5)
    dev = write_rows(tmp_path / "dev.csv", [("好", "pos"), ("一般", "meh")])
    with pytest.raises(DataError, match=r"dev\.csv:3: label 'meh' does not occur in the training data \(its labels: neg, pos\)"):
        prepare_data(config(train, dev=str(dev)), log=lambda _: None)
    one = write_rows(tmp_path / "one.csv", [("好 吃", "pos")] * 20)
    with pytest.raises(DataError, match=r"one\.csv: the training data has only one label \('pos'\)"):
        prepare_data(config(one), log=lambda _: None)


def test_the_texts_of_a_file_are_read_again_not_kept(tmp_path):
    train = write_rows(tmp_path / "train.csv", [("好 吃", "pos"), ("难 吃", "neg")] * 5)
    splits = read_splits(config(train), log=lambda _: None)
    assert isinstance(splits.train.data.texts, Texts) and splits.train.data.scan.count == 10
