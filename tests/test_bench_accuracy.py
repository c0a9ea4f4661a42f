"""bench/accuracy.py: its splits (stratified, capped, the same dev/test for a capped set) and its table."""

import csv

import pytest

import bench.accuracy as bench
from bench.accuracy import Dataset, parse_overrides, table, write_splits


def rows_of(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


@pytest.fixture
def shared_csv(tmp_path, monkeypatch):
    source = tmp_path / "shared"
    source.mkdir()
    with open(source / "reviews.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cat", "review"])
        writer.writerows((["a", "b", "c"][i % 3] if i < 600 else "a", f"text {i}") for i in range(900))
    monkeypatch.setattr(bench, "SHARED", source)
    return tmp_path


def test_splits_are_stratified_and_a_capped_set_keeps_dev_and_test(shared_csv):
    full = write_splits(Dataset("full", "reviews.csv", "cat"), shared_csv)
    small = write_splits(Dataset("small", "reviews.csv", "cat", train_rows=90), shared_csv)
    train, dev, test = (rows_of(full[s]) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (720, 90, 90)
    assert not {t for t, _ in train} & {t for t, _ in test} and not {t for t, _ in dev} & {t for t, _ in test}
    assert rows_of(small["dev"]) == dev and rows_of(small["test"]) == test  # scored on the same sets
    small_train = rows_of(small["train"])
    assert len(small_train) == 90 and set(small_train) <= set(train)
    share = {label: sum(1 for _, lab in small_train if lab == label) / 90 for label in "abc"}
    assert share["a"] == pytest.approx(500 / 900, abs=0.02)  # the class mix of the whole file


def test_overrides_parse_json_values_and_option_names():
    assert parse_overrides(["epochs=8", "--word-chars=true", "vectors-corpus=peoples-daily"]) == {
        "epochs": 8, "word_chars": True, "vectors_corpus": "peoples-daily"}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        parse_overrides(["epochs"])


def test_table_shows_mean_std_and_the_gap_to_tfidf():
    def record(acc, dev):
        return {"test_accuracy": acc, "test_macro_f1": acc, "dev_accuracy": dev, "best_epoch": 2, "epochs_run": 4, "seconds": 10.0,
                "peak_rss_mb": 500.0}

    results = {"date": "d", "machine": "m", "seeds": [1, 2], "overrides": {},
               "datasets": {"x": {"lstm": [record(0.90, 0.8), record(0.92, 0.9)], "tfidf": [record(0.89, 0.85), record(0.89, 0.85)]}}}
    text = table(results)
    lstm = next(line for line in text.splitlines() if line.startswith("| x | lstm"))
    assert "0.9100 ± 0.0141" in lstm and "+2.00" in lstm
    assert text.index("| x | tfidf") < text.index("| x | lstm")  # the baseline first
    assert "mean dev accuracy over datasets: tfidf 0.8500, lstm 0.8500" in text
