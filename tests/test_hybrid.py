"""--model lstm+tfidf: late fusion of the recurrent model and TF-IDF, weighed on dev, saved and loaded without pickle."""

import json
import shutil

import numpy as np
import pytest

from tests.helpers import assert_user_error, fast_flags, run_cli, train_on_sample
from train.classify.hybrid import WEIGHTS, choose_weight, fuse

FAST = fast_flags(epochs=2, batch_size=None)


def test_fusion_is_a_product_of_experts():
    log_probs = np.log(np.array([[0.9, 0.1], [0.4, 0.6]]))
    scores = np.array([[-1.0, 1.0], [2.0, -2.0]])
    assert np.allclose(fuse(log_probs, scores, 0.0), np.exp(log_probs))  # weight 0: the recurrent model alone
    fused = fuse(log_probs, scores, 1.0)
    expected = np.exp(log_probs + scores) / np.exp(log_probs + scores).sum(1, keepdims=True)
    assert np.allclose(fused, expected) and np.allclose(fused.sum(1), 1.0)
    assert fuse(log_probs, scores, 64.0).argmax(1).tolist() == [1, 0]  # a large weight: TF-IDF decides


def test_weight_is_chosen_on_the_labels_given():
    log_probs = np.log(np.array([[0.6, 0.4], [0.6, 0.4], [0.2, 0.8]]))
    scores = np.array([[-1.0, 1.0], [1.0, -1.0], [1.0, -1.0]])
    assert choose_weight(log_probs, scores, [0, 0, 1]) == (0.0, 1.0)  # the RNN is right on all three: no TF-IDF needed
    weight, accuracy = choose_weight(log_probs, scores, [1, 0, 0])  # TF-IDF is right on all three
    assert accuracy == 1.0 and weight == min(w for w in WEIGHTS if (fuse(log_probs, scores, w).argmax(1) == [1, 0, 0]).all())


@pytest.fixture(scope="module")
def hybrid_run(sample):
    return train_on_sample(sample, "gru+tfidf", "hybrid", *FAST)


@pytest.mark.e2e
def test_hybrid_run_reports_fusion_and_loads_from_its_directory(hybrid_run, sample, tmp_path):
    result, run = hybrid_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tfidf_weight"] in WEIGHTS and summary["best_dev_accuracy"] >= summary["rnn_dev_accuracy"]
    assert "fusion: TF-IDF weight" in result.stderr
    assert not list(run.glob("*.pkl")) and json.loads((run / "config.json").read_text())["model"] == "gru+tfidf"
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    evaluated = run_cli("evaluate", "--run", str(moved), str(sample["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    accuracy = next(line for line in evaluated.stdout.splitlines() if line.startswith("accuracy:")).split()[1]
    assert float(accuracy) == pytest.approx(summary["test_accuracy"], abs=1e-4)
    predicted = run_cli("predict", "--run", str(moved), "质量很好，非常满意", "太差了，退货")
    assert predicted.returncode == 0, predicted.stderr
    for line in predicted.stdout.strip().splitlines():
        label, prob, _ = line.split("\t")
        assert label in ("negative", "positive") and 0.5 <= float(prob) <= 1.0


@pytest.mark.e2e
def test_damaged_fusion_file_is_a_clear_error(hybrid_run, tmp_path):
    _, run = hybrid_run
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "fusion.json").write_text('{"tfidf_weight": "heavy"}', encoding="utf-8")
    assert_user_error(run_cli("predict", "--run", str(broken), "好"), "fusion.json", "'tfidf_weight' must be a number")
    (broken / "fusion.json").unlink()
    assert_user_error(run_cli("predict", "--run", str(broken), "好"), "fusion.json")
