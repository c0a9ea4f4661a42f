"""--model tfidf: the model itself, its pickle-free state, and the CLI through train, predict and evaluate."""

import json
import shutil

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from models.tfidf import TfidfClassifier
from tests.helpers import assert_user_error, run_cli, write_csv

TEXTS = ["好吃 又 便宜", "很 好吃", "服务 好", "难吃 死了", "太 贵 了", "服务 差", "好吃", "差 评", "又 便宜 又 好", "贵 而且 难吃"]
LABELS = [1, 1, 1, 0, 0, 0, 1, 0, 1, 0]
THREE = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("classifier", ["svm", "logreg"])
@pytest.mark.parametrize("labels", [LABELS, THREE], ids=["binary", "three-class"])
def test_scores_are_scikit_learns(classifier, labels):
    model = TfidfClassifier("char", classifier).fit(TEXTS, labels)
    x = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True).fit_transform(TEXTS)
    reference = (LinearSVC(random_state=0) if classifier == "svm" else LogisticRegression(max_iter=1000, random_state=0)).fit(x, labels)
    assert np.array_equal(model.predict(TEXTS), reference.predict(x))
    if classifier == "logreg":
        assert np.allclose(model.predict_proba(TEXTS), reference.predict_proba(x), atol=1e-9)


def test_state_round_trip_gives_identical_scores():
    model = TfidfClassifier("word", "logreg", ngram_max=2, tokenize=str.split).fit(TEXTS, LABELS)
    vocabulary, arrays = model.state()
    json.dumps(vocabulary)  # plain JSON, no pickle needed
    restored = TfidfClassifier("word", "logreg", ngram_max=2, tokenize=str.split).load_state(vocabulary, arrays)
    new = ["好吃 但是 贵", "服务 差 又 贵"]
    assert np.allclose(restored.decision_function(new), model.decision_function(new), atol=1e-12)
    assert np.allclose(restored.predict_proba(new).sum(1), 1.0)


def test_svm_has_no_probabilities_and_mismatched_state_is_refused():
    model = TfidfClassifier().fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="probabilities"):
        model.predict_proba(TEXTS)
    vocabulary, arrays = model.state()
    vocabulary.pop(next(iter(vocabulary)))
    with pytest.raises(ValueError, match="do not belong together"):
        TfidfClassifier().load_state(vocabulary, arrays)


@pytest.fixture(scope="module")
def tfidf_run(sample):
    runs = sample["dir"] / "runs"
    result = run_cli("--model", "tfidf", "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
                     "--runs-dir", str(runs), "--run-name", "tfidf")
    assert result.returncode == 0, result.stderr
    return result, runs / "tfidf"


@pytest.mark.e2e
def test_tfidf_run_beats_the_majority_and_writes_a_pickle_free_run(tfidf_run):
    result, run = tfidf_run
    test_accuracy = float(next(line for line in result.stdout.splitlines() if line.startswith("test accuracy:")).split()[2])
    assert test_accuracy > 0.6, "balanced sample: the majority class scores 0.5"
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"] == "tfidf" and config["tfidf_classifier"] == "svm" and config["tfidf_features"] == "char"
    assert {"labels.json", "tfidf_vocab.json", "tfidf.npz", "report.txt", "summary.json", "test_metrics.json"} <= {p.name for p in run.iterdir()}
    np.load(run / "tfidf.npz", allow_pickle=False)["coef"]  # loads without pickles
    assert "test accuracy:" in (run / "report.txt").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_predict_and_evaluate_from_a_copied_tfidf_run(tfidf_run, sample, tmp_path):
    result, run = tfidf_run
    copy = tmp_path / "moved"
    shutil.copytree(run, copy)
    predicted = run_cli("predict", "--run", str(copy), "这家店的菜很好吃，下次还来", "质量太差了，退货")
    assert predicted.returncode == 0, predicted.stderr
    rows = [line.split("\t") for line in predicted.stdout.splitlines()]
    assert [r[0] for r in rows] == ["positive", "negative"] and all(float(r[1]) > 0 for r in rows)
    assert "margin, not a probability" in predicted.stderr
    evaluated = run_cli("evaluate", "--run", str(copy), str(sample["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert f"accuracy: {summary['test_accuracy']:.4f}" in evaluated.stdout


@pytest.mark.e2e
def test_logreg_run_predicts_probabilities(sample, tmp_path):
    result = run_cli("--model", "tfidf", "--tfidf-classifier", "logreg", "--tfidf-features", "word", "--tfidf-ngrams", "2",
                     "--train", str(sample["train"]), "--runs-dir", str(tmp_path), "--run-name", "lr")
    assert result.returncode == 0, result.stderr
    predicted = run_cli("predict", "--run", str(tmp_path / "lr"), "味道不错", "难吃")
    assert predicted.returncode == 0 and "margin" not in predicted.stderr, predicted.stderr
    probs = [float(line.split("\t")[1]) for line in predicted.stdout.splitlines()]
    assert len(probs) == 2 and all(0.5 <= p <= 1.0 for p in probs)


def test_tfidf_errors(tfidf_run, tmp_path):
    _, run = tfidf_run
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "tfidf.npz").unlink()
    assert_user_error(run_cli("predict", "--run", str(broken), "好"), "tfidf.npz", "missing")
    for damaged in (b"not an npz", (run / "tfidf.npz").read_bytes()[:100]):  # not a zip; a truncated one
        (broken / "tfidf.npz").write_bytes(damaged)
        assert_user_error(run_cli("predict", "--run", str(broken), "好"), "tfidf.npz", "not a readable array file")
    assert_user_error(run_cli("--model", "tfidf", "--tfidf-c", "0"), "--tfidf-c must be > 0")
    assert_user_error(run_cli("--model", "tfidf", "--tfidf-classifier", "forest"), "invalid choice", "forest")
    rows = [("好吃", "pos")] * 5
    one_label = write_csv(tmp_path / "one.csv", rows)
    assert_user_error(run_cli("--model", "tfidf", "--train", str(one_label), "--runs-dir", str(tmp_path / "r")), "only one label")
    assert not (tmp_path / "r").exists()
