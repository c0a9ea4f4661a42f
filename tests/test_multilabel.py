"""Multi-label classification: label cells split into sets, thresholds chosen on dev, the metrics, train/predict/evaluate."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from data_processor.base.errors import DataError
from tests.helpers import assert_user_error, fast_flags, run_cli, write_csv
from train.classify.multilabel import (
    choose,
    label_sets,
    multi_hot,
    multilabel_metrics,
    split_labels,
    tune_thresholds,
)

FAST_LSTM = fast_flags(hidden_size=32, embed_dim=32, epochs=3, max_len=None, batch_size=None, seed=None, threads=None)
DELIVERY = ("快递", "物流", "送货", "发货", "到货")


# ------------------------------------------------------------------ units

def test_split_labels_strips_drops_repeats_and_names_an_empty_cell():
    assert split_labels(" 体育 | 财经|体育 ", "|", "f.csv", 3) == ["体育", "财经"]
    assert split_labels("a;b", ";", "f.csv", 3) == ["a", "b"]
    with pytest.raises(DataError, match=r"f\.csv:7: the label cell ' \| ' holds no label"):
        split_labels(" | ", "|", "f.csv", 7)


def test_choose_keeps_labels_at_their_threshold_and_always_the_best_one():
    scores = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.1], [0.5, 0.5, 0.7]])
    chosen = choose(scores, np.array([0.5, 0.7, 0.5]))
    assert chosen.tolist() == [[True, False, False], [False, True, False], [True, False, True]]
    assert label_sets(chosen, scores, ["a", "b", "c"]) == [[("a", 0.9)], [("b", 0.3)], [("c", 0.7), ("a", 0.5)]]


def test_global_threshold_is_the_best_micro_f1_and_per_label_fits_each_label():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 3)) < 0.4).astype(np.float32)
    y[np.arange(400), rng.integers(0, 3, 400)] = 1  # every row has a label
    # label 0 separates at 0.3, label 1 at 0.7, label 2 at 0.5
    scores = np.where(y > 0, [0.35, 0.75, 0.55], [0.25, 0.65, 0.45]) + rng.uniform(-0.02, 0.02, y.shape)
    per_label = tune_thresholds(scores, y, "per-label")
    assert 0.27 <= per_label[0] <= 0.33 and 0.67 <= per_label[1] <= 0.73 and 0.47 <= per_label[2] <= 0.53
    assert ((scores >= per_label) == (y > 0)).all()  # each label's own threshold separates it
    best = tune_thresholds(scores, y, "global")
    assert len(set(best.tolist())) == 1
    f1 = {t: multilabel_metrics(y, choose(scores, np.full(3, t)), "abc")["micro_f1"] for t in np.round(np.arange(0.05, 0.951, 0.01), 2)}
    assert multilabel_metrics(y, choose(scores, best), "abc")["micro_f1"] == pytest.approx(max(f1.values()))


def test_multilabel_metrics_by_hand():
    y = multi_hot([["a"], ["a", "b"], ["c"], ["b", "c"]], ["a", "b", "c"])
    pred = multi_hot([["a"], ["a"], ["c", "b"], ["b", "c"]], ["a", "b", "c"]) > 0
    m = multilabel_metrics(y, pred, ["a", "b", "c"])
    # tp: a 2, b 1, c 2 = 5; predicted 6, true 6 -> micro-F1 10/12
    assert m["micro_f1"] == pytest.approx(10 / 12)
    assert m["subset_accuracy"] == pytest.approx(2 / 4)
    assert m["hamming_loss"] == pytest.approx(2 / 12)
    assert m["samples_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 1) / 4)
    assert m["confusion"] == [[2, 0, 0], [1, 1, 1], [0, 2, 2]]  # true a -> predicted a twice; true c -> b twice, c twice


# ------------------------------------------------------------------ a multi-label set from the built-in reviews

@pytest.fixture(scope="module")
def multilabel_sample(sample, tmp_path_factory):
    """The reviews sample with two labels per review: its sentiment, and ``物流`` when it talks about delivery."""
    d = tmp_path_factory.mktemp("multilabel")

    def convert(name: str) -> Path:
        with open(sample[name], encoding="utf-8", newline="") as handle:
            rows = [(r["text"], r["label"] + ("|物流" if any(w in r["text"] for w in DELIVERY) else "")) for r in csv.DictReader(handle)]
        return write_csv(d / f"{name}.csv", rows)

    return {"dir": d, **{name: convert(name) for name in ("train", "dev", "test")}}


def train_multilabel(data: dict, model: str, name: str, *options: str) -> Path:
    runs = data["dir"] / "runs"
    result = run_cli("--model", model, "--multi-label", "--train", str(data["train"]), "--dev", str(data["dev"]), "--test",
                     str(data["test"]), "--runs-dir", str(runs), "--run-name", name, *options)
    assert result.returncode == 0, result.stderr
    assert "test micro-F1" in result.stdout
    return runs / name


@pytest.mark.e2e
def test_lstm_multilabel_run_learns_both_labels_and_predict_evaluate_agree(multilabel_sample):
    run = train_multilabel(multilabel_sample, "lstm", "lstm-ml", *FAST_LSTM)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["multi_label"] and summary["threshold"] == "global"
    assert summary["test_micro_f1"] > 0.6, summary
    saved = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))
    assert saved["mode"] == "global" and set(saved["thresholds"]) == {"negative", "positive", "物流"}
    assert "Hamming loss" in (run / "report.txt").read_text(encoding="utf-8")
    assert (run / "confusion.png").is_file()

    evaluated = run_cli("evaluate", "--run", str(run), str(multilabel_sample["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"micro-F1: {summary['test_micro_f1']:.4f}" in evaluated.stdout

    texts = ["快递很快，东西很好，很满意", "质量太差了，再也不买了"]
    predicted = run_cli("predict", "--run", str(run), "--output-format", "jsonl", *texts)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    for row in rows:
        assert row["labels"] and list(row["probabilities"]) == row["labels"]
        assert all(0 <= p <= 1 for p in row["probabilities"].values())


@pytest.mark.e2e
def test_tfidf_one_vs_rest_with_per_label_thresholds(multilabel_sample):
    run = train_multilabel(multilabel_sample, "tfidf", "tfidf-ml", "--tfidf-classifier", "logreg", "--threshold", "per-label")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["threshold"] == "per-label" and summary["test_micro_f1"] > 0.75, summary
    thresholds = json.loads((run / "thresholds.json").read_text(encoding="utf-8"))["thresholds"]
    assert all(0.05 <= t <= 0.95 for t in thresholds.values())
    predicted = run_cli("predict", "--run", str(run), "这次物流很快，快递小哥态度很好，东西也不错")
    assert predicted.returncode == 0, predicted.stderr
    labels, probs, text = predicted.stdout.rstrip("\n").split("\t")
    assert "物流" in labels.split("|") and len(probs.split("|")) == len(labels.split("|"))
    evaluated = run_cli("evaluate", "--run", str(run), str(multilabel_sample["test"]))
    assert f"micro-F1: {summary['test_micro_f1']:.4f}" in evaluated.stdout


# ------------------------------------------------------------------ errors

def test_an_empty_label_set_names_its_file_and_line(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("好评", "positive"), ("差评", "negative|"), ("还行", " | "), ("不错", "positive")] * 3)
    result = run_cli("--model", "tfidf", "--multi-label", "--train", str(train), "--runs-dir", str(tmp_path / "runs"))
    assert_user_error(result, f"{train}:4", "holds no label")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_label_training_never_saw_names_its_line(tmp_path):
    train = write_csv(tmp_path / "train.csv", [("好评", "positive|a"), ("差评", "negative|b")] * 4)
    dev = write_csv(tmp_path / "dev.csv", [("好评", "positive"), ("差评", "negative|c")])
    result = run_cli("--model", "tfidf", "--multi-label", "--train", str(train), "--dev", str(dev), "--runs-dir", str(tmp_path / "runs"))
    assert_user_error(result, f"{dev}:3", "'c'")


@pytest.mark.parametrize("options, fragment", [
    (("--label-sep", ";"), "--label-sep only applies to multi-label data"),
    (("--label-sep", "|"), "--label-sep only applies to multi-label data"),  # the default value, given: still refused
    (("--threshold", "global"), "--threshold only applies to multi-label data"),
    (("--threshold", "per-label", "--label-sep", ";"), "--label-sep and --threshold only apply to multi-label data"),
    (("--multi-label",), "--multi-label needs --train FILE"),
    (("--multi-label", "--model", "lstm+tfidf", "--train", "x.csv"), "with --multi-label use --model lstm or tfidf"),
    (("--multi-label", "--label-sep", "", "--train", "x.csv"), "--label-sep is empty"),
])
def test_flags_that_make_no_sense_together_are_refused(options, fragment):
    assert_user_error(run_cli("--dry-run", *options), fragment)


def test_single_label_runs_keep_their_old_shape(tmp_path):
    rows = [(f"{w} {random.Random(i).random():.3f}", label) for i, (w, label) in enumerate([("很好 满意", "positive"), ("很差 失望", "negative")] * 20)]
    train = write_csv(tmp_path / "train.csv", rows)
    result = run_cli("--model", "tfidf", "--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--run-name", "one")
    assert result.returncode == 0, result.stderr
    assert "best dev accuracy" in result.stdout
    assert not (tmp_path / "runs" / "one" / "thresholds.json").exists()
    predicted = run_cli("predict", "--run", str(tmp_path / "runs" / "one"), "--output-format", "jsonl", "很好 满意")
    assert set(json.loads(predicted.stdout)) == {"label", "margin", "text"}
