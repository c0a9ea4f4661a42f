"""--label-names: display names for raw labels, kept in the run and shown by predict, evaluate, serve and the report."""

from __future__ import annotations

import csv
import json

import pytest

from data_processor.base.errors import ConfigError, DataError
from data_processor.label_names import parse_label_names, shown_names
from tests.helpers import assert_user_error, fast_flags, run_cli, write_csv

ROWS = [("好吃又便宜，下次还来", "1"), ("难吃还贵，再也不来", "0")] * 30


def test_inline_pairs_and_files_give_the_same_mapping(tmp_path):
    expected = {"0": "negative", "1": "positive"}
    assert parse_label_names("0=negative, 1=positive") == expected
    (tmp_path / "names.json").write_text(json.dumps(expected), encoding="utf-8")
    assert parse_label_names(str(tmp_path / "names.json")) == expected
    (tmp_path / "names.tsv").write_text("# raw\tname\n0\tnegative\n\n1\tpositive\n", encoding="utf-8")
    assert parse_label_names(str(tmp_path / "names.tsv")) == expected
    (tmp_path / "names.txt").write_text("0=negative\n1=positive\n", encoding="utf-8")
    assert parse_label_names(str(tmp_path / "names.txt")) == expected


def test_malformed_names_are_refused_saying_where(tmp_path):
    with pytest.raises(ConfigError, match="item 2 \\('1'\\) is not RAW=NAME"):
        parse_label_names("0=negative,1")
    with pytest.raises(ConfigError, match="the name 'same' is given to both '0' and '1'"):
        parse_label_names("0=same,1=same")
    bad = tmp_path / "bad.txt"
    bad.write_text("0=negative\njust a word\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{bad}:2: expected RAW<TAB>NAME or RAW=NAME"):
        parse_label_names(str(bad))
    with pytest.raises(DataError, match="'2', not a label of the training data"):
        shown_names(["0", "1"], {"2": "two"})
    with pytest.raises(DataError, match="shows two labels as '1'"):
        shown_names(["0", "1"], {"0": "1"})
    assert shown_names(["0", "1", "2"], {"1": "one"}) == ["0", "one", "2"]  # unnamed labels keep their own


@pytest.mark.parametrize("model", ["tfidf", "lstm"])
def test_a_run_shows_its_label_names_everywhere(tmp_path, model):
    from train.inference.predictors import load_predictor
    from train.inference.serve.rows import prediction_rows

    data = write_csv(tmp_path / "data.csv", ROWS)
    runs = tmp_path / "runs"
    extra = ["--tfidf-classifier", "logreg"] if model == "tfidf" else fast_flags(epochs=3, embed_dim=8, hidden_size=8)
    result = run_cli("--model", model, "--train", str(data), "--test", str(data), "--runs-dir", str(runs), "--run-name", "named",
                     "--label-names", "0=negative,1=positive", *extra)
    assert result.returncode == 0, result.stderr
    run = runs / "named"
    assert json.loads((run / "label_names.json").read_text(encoding="utf-8")) == {"0": "negative", "1": "positive"}
    assert "negative" in (run / "report.txt").read_text(encoding="utf-8")
    predicted = run_cli("predict", "--run", str(run), "好吃又便宜，下次还来")
    assert predicted.stdout.split("\t")[0] in ("negative", "positive"), predicted.stderr
    evaluated = run_cli("evaluate", "--run", str(run), str(data), "--errors", str(tmp_path / "wrong.csv"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "negative" in evaluated.stdout and "positive" in evaluated.stdout
    with open(tmp_path / "wrong.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            assert {row["gold"], row["predicted"]} <= {"negative", "positive"} and row["gold"] != row["predicted"]
    accuracy = float(next(line for line in evaluated.stdout.splitlines() if line.startswith("accuracy")).split()[1])
    written = len(list(csv.DictReader(open(tmp_path / "wrong.csv", encoding="utf-8", newline=""))))
    assert written == round((1 - accuracy) * len(ROWS))  # gold compared as shown: only real errors are written
    row = prediction_rows(load_predictor(run), ["难吃还贵"])[0]
    assert row["label"] in ("negative", "positive") and set(row["probabilities"]) == {"negative", "positive"}


def test_names_of_labels_the_data_lacks_stop_the_run_before_it_is_made(tmp_path):
    data = write_csv(tmp_path / "data.csv", ROWS)
    result = run_cli("--model", "tfidf", "--train", str(data), "--runs-dir", str(tmp_path / "runs"), "--label-names", "0=neg,2=two")
    assert_user_error(result, "--label-names names '2', not a label of the training data (its labels: 0, 1)")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert_user_error(run_cli("--label-names", "0=neg,1", "--dry-run"), "is not RAW=NAME")
