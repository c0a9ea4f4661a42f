"""The scikit-learn-style estimator (train.estimator.TextClassifier) and its documentation page's example."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from data_processor.base.errors import ConfigError, DataError
from tests.helpers import ROOT, fast_flags, train_on_sample
from train.estimator import TextClassifier

FAST = dict(epochs=1, embedding="random", embed_dim=16, hidden_size=16, max_len=60, batch_size=32, seed=1, threads=1,
            progress=False)
QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def reviews(sample):
    import csv

    def read(path):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    return {split: read(sample[split]) for split in ("train", "dev", "test")}


@pytest.fixture(scope="module")
def fitted(reviews):
    texts, labels = reviews["train"]
    return TextClassifier(model="lstm", **{**FAST, "epochs": 3}).fit(texts, labels, dev=reviews["dev"], **QUIET)


@pytest.mark.e2e
def test_fit_trains_exactly_as_the_command_line(fitted, reviews, sample):
    result, _ = train_on_sample(sample, "lstm", "same-as-estimator", *fast_flags(epochs=3, embed_dim=16, hidden_size=16))
    cli_accuracy = float(next(line for line in result.stdout.splitlines() if line.startswith("test accuracy")).split()[2])
    assert fitted.score(*reviews["test"]) == pytest.approx(cli_accuracy, abs=5e-5)  # the CLI prints 4 decimals
    assert fitted.summary_["best_dev_accuracy"] == pytest.approx(float(result.stdout.split()[3]), abs=5e-5)


@pytest.mark.e2e
def test_fit_predict_score_save_load(fitted, reviews, tmp_path):
    texts, labels = reviews["test"]
    assert list(fitted.classes_) == ["negative", "positive"]
    predicted = fitted.predict(texts)
    assert predicted.shape == (300,) and set(predicted) <= {"negative", "positive"}
    probabilities = fitted.predict_proba(texts)
    assert probabilities.shape == (300, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert list(fitted.classes_[probabilities.argmax(axis=1)]) == list(predicted)
    accuracy = fitted.score(texts, labels)
    assert accuracy == pytest.approx(np.mean(predicted == np.array(labels))) and accuracy > 0.55  # better than a coin
    saved = fitted.save(tmp_path / "saved")
    again = TextClassifier.load(saved)
    assert (again.predict(texts) == predicted).all() and np.allclose(again.predict_proba(texts), probabilities, atol=1e-6)
    assert again.get_params()["hidden_size"] == 16 and again.model == "lstm"
    with pytest.raises(ConfigError, match="already exists"):
        fitted.save(saved)


@pytest.mark.e2e
def test_a_saved_estimator_is_a_run_directory_the_command_line_uses(fitted, tmp_path):
    from tests.helpers import run_cli

    saved = fitted.save(tmp_path / "run")
    result = run_cli("predict", "--run", str(saved), "这家店的菜很好吃")
    assert result.returncode == 0 and result.stdout.split("\t")[0] in ("positive", "negative"), result.stderr
    assert result.stdout.split("\t")[0] == fitted.predict(["这家店的菜很好吃"])[0]


@pytest.mark.e2e
def test_serve_answers_on_a_saved_estimator(fitted, tmp_path):
    saved = fitted.save(tmp_path / "served")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--run", str(saved), "--port", str(port), "--threads", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", json.dumps({"text": "物流很快"}).encode(),
                                                 {"Content-Type": "application/json"})
                answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode() if server.stderr else ""
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer["predictions"][0]["label"] == fitted.predict(["物流很快"])[0]


@pytest.mark.e2e
def test_labels_come_back_in_the_type_they_were_given(reviews):
    texts, labels = reviews["train"]
    numbers = np.array([1 if label == "positive" else 0 for label in labels])
    clf = TextClassifier(model="tfidf", tfidf_classifier="logreg").fit(texts[:400], numbers[:400], **QUIET)
    assert list(clf.classes_) == [0, 1] and clf.classes_.dtype.kind == "i"
    predicted = clf.predict(texts[400:500])
    assert predicted.dtype.kind == "i" and set(predicted) <= {0, 1}
    assert clf.score(texts[400:500], numbers[400:500]) == pytest.approx(np.mean(predicted == numbers[400:500]))
    assert clf.decision_function(texts[:3]).shape == (3, 2)


@pytest.mark.e2e
def test_clone_and_cross_val_score(reviews):
    texts, labels = reviews["train"]
    clf = TextClassifier(model="lstm", **FAST)
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    scores = cross_val_score(clf, np.array(texts[:300]), np.array(labels[:300]), cv=2, params={"log": lambda _: None})
    assert scores.shape == (2,) and all(0.0 <= s <= 1.0 for s in scores)
    assert not hasattr(clf, "predictor_")  # cross-validation trains clones, not the estimator itself


def test_options_are_checked_at_once_with_the_command_lines_messages():
    with pytest.raises(ConfigError, match="^--epochs must be >= 1, got 0$"):
        TextClassifier(epochs=0)
    with pytest.raises(ConfigError, match="unknown option 'hiden_size'; did you mean 'hidden_size'"):
        TextClassifier(hiden_size=8)
    with pytest.raises(ConfigError, match="'train' is not an option of TextClassifier"):
        TextClassifier(train=["a", "b"])
    with pytest.raises(ConfigError, match="unknown model 'lsmt'"):
        TextClassifier(model="lsmt")
    clf = TextClassifier()
    with pytest.raises(ConfigError, match="--lr must be > 0"):
        clf.set_params(lr=-1.0)
    assert "lr" not in clf.get_params()  # a refused change leaves the estimator as it was


def test_bad_data_is_refused_naming_the_entry():
    clf = TextClassifier(model="tfidf")
    with pytest.raises(DataError, match=r"X\[1\] is not a text: None"):
        clf.fit(["好", None, "差"], ["a", "b", "a"])
    with pytest.raises(DataError, match="X has 2 texts but y has 3 labels"):
        clf.fit(["好", "差"], ["a", "b", "a"])
    with pytest.raises(DataError, match="one label"):
        clf.fit(["好", "差"], ["a", "a"])
    with pytest.raises(DataError, match="X is one string"):
        clf.fit("好吃", ["a"])
    with pytest.raises(DataError, match=r"y\[0\] is missing"):
        clf.fit(["好", "差"], [float("nan"), "a"])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="call fit"):
        clf.predict(["好"])


@pytest.mark.e2e
def test_the_documentation_pages_example_runs(tmp_path):
    page = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    session = blocks[-1]  # the whole session; the first block is the path setup
    script = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{session}"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['negative' 'positive']" in result.stdout and "test accuracy:" in result.stdout
    assert (tmp_path / "my-run" / "model.pt").is_file() and (tmp_path / "my-run" / "estimator.json").is_file()
