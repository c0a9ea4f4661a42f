"""Distillation from an out-of-fold TF-IDF teacher, label smoothing and adversarial training on the embedded tokens."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from models.classifier import RNNClassifier
from models.tfidf import TfidfClassifier
from train.classify.distill import (
    distillation_targets,
    fit_scale,
    fold_indices,
    out_of_fold_scores,
    teacher_probabilities,
)
from train.classify.objective import Objective
from tests.helpers import run_cli


def random_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts of random characters: nothing in them predicts a random label."""
    rng = random.Random(seed)
    return ["".join(rng.choice("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥") for _ in range(12)) for _ in range(n)]


def test_the_scored_folds_partition_the_rows_and_never_meet_their_fit_rows():
    labels = np.array([0] * 13 + [1] * 7 + [2] * 2)  # class 2 has fewer rows than folds
    folds = fold_indices(labels, 5, seed=0)
    scored = np.concatenate([s for _, s in folds])
    assert sorted(scored.tolist()) == list(range(len(labels)))
    for fit_rows, scored_rows in folds:
        assert not set(fit_rows) & set(scored_rows)
        assert len(fit_rows) + len(scored_rows) == len(labels)


class RecordingTeacher(TfidfClassifier):
    """A TF-IDF teacher that remembers the texts it was fitted on, and says so for every text it scores."""

    fitted: set[str]

    def fit(self, texts, labels):
        self.fitted = set(texts)
        return super().fit(texts, labels)

    def decision_function(self, texts):
        assert not self.fitted & set(texts), "a text was scored by a teacher fitted on it"
        return super().decision_function(texts)


def test_no_training_row_is_scored_by_a_teacher_that_saw_it():
    texts = random_texts(200)
    labels = np.random.default_rng(0).integers(0, 2, len(texts))
    in_sample = TfidfClassifier(c=100.0).fit(texts, labels).predict(texts)
    assert (in_sample == labels).mean() > 0.95  # a teacher scoring its own rows recites their (random) labels
    scores = out_of_fold_scores(texts, labels, 2, lambda: RecordingTeacher(c=100.0), folds=5, seed=0)
    assert scores.shape == (200, 2)
    assert (scores.argmax(1) == labels).mean() < 0.65  # out of fold, random labels are at chance


def test_a_class_missing_from_a_fold_scores_lowest_there():
    texts = random_texts(30, seed=1)
    labels = np.array([0] * 14 + [1] * 15 + [2])  # the one row of class 2 is never in its own fold's fit rows
    scores = out_of_fold_scores(texts, labels, 3, lambda: TfidfClassifier(), folds=5, seed=0)
    assert scores[29].argmax() != 2 and scores[29, 2] == scores[29].min()


def test_the_scale_is_fitted_to_the_out_of_fold_likelihood():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4000, 3))
    probs = teacher_probabilities(scores, 2.0, multi_label=False)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    assert fit_scale(scores, labels, multi_label=False) == pytest.approx(2.0, rel=0.15)
    binary = rng.normal(size=(4000, 2))
    hot = (rng.random((4000, 2)) < teacher_probabilities(binary, 0.5, multi_label=True)).astype(np.float32)
    assert fit_scale(binary, hot, multi_label=True) == pytest.approx(0.5, rel=0.2)


def test_distillation_targets_are_probabilities_with_a_record():
    texts = ["好吃", "很好吃", "真好吃", "不错", "难吃", "太难吃", "真难吃", "很差"] * 5
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0] * 5)
    probs, record = distillation_targets(texts, labels, 2, lambda: TfidfClassifier(), multi_label=False, log=lambda _: None)
    assert probs.dtype == np.float32 and probs.shape == (40, 2)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert record["out_of_fold_accuracy"] > 0.9 and record["folds"] == 5 and record["scale"] > 0


def test_the_targets_mix_label_smoothing_and_the_teacher():
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, 2, 1, 2])
    teacher = torch.softmax(torch.randn(10, 3), 1)
    index = torch.tensor([7, 1, 3, 0])
    plain = Objective().loss(logits, labels, index)
    assert torch.allclose(plain, F.cross_entropy(logits, labels, reduction="sum"))
    smoothed = Objective(label_smoothing=0.1).loss(logits, labels, index)
    assert torch.allclose(smoothed, F.cross_entropy(logits, labels, reduction="sum", label_smoothing=0.1))
    distilled = Objective(soft_targets=teacher, distill_weight=0.3).loss(logits, labels, index)
    soft = -(teacher[index] * F.log_softmax(logits, 1)).sum()
    assert torch.allclose(distilled, 0.7 * plain + 0.3 * soft)
    hot = torch.tensor([[1.0, 0.0, 1.0]] * 4)
    multi = Objective(multi_label=True, soft_targets=teacher, distill_weight=0.5).loss(logits, hot, index)
    assert torch.allclose(multi, F.binary_cross_entropy_with_logits(logits, 0.5 * hot + 0.5 * teacher[index], reduction="sum"))


def test_the_adversarial_perturbation_has_the_given_norm_and_raises_the_loss_most():
    torch.manual_seed(0)
    model = RNNClassifier(30, 2, embed_dim=8, hidden_size=8, dropout=0.0).eval()
    tokens = torch.randint(1, 30, (6, 7))
    lengths = torch.tensor([7, 5, 3, 7, 2, 6])
    labels = torch.randint(0, 2, (6,))
    objective = Objective(adversarial=0.5)
    noise = torch.zeros(6, 7, 8, requires_grad=True)
    clean = objective.loss(model(tokens, lengths, noise), labels, torch.arange(6))
    clean.backward()
    push = objective.perturbation(noise.grad)
    assert torch.allclose(push.flatten(1).norm(dim=1), torch.full((6,), 0.5), atol=1e-5)
    assert not push[1, 5:].any() and not push[4, 2:].any()  # padding has no gradient, so it is never pushed
    with torch.no_grad():
        pushed = objective.loss(model(tokens, lengths, push), labels, torch.arange(6))
        randoms = []
        for seed in range(5):
            torch.manual_seed(seed)
            direction = torch.randn(6, 7, 8) * (push != 0)
            randoms.append(objective.loss(model(tokens, lengths, objective.perturbation(direction)), labels, torch.arange(6)))
    assert pushed > clean.detach() and all(pushed > r for r in randoms)


@pytest.mark.e2e
def test_a_distilled_adversarial_run_is_a_plain_rnn_that_predicts_serves_and_exports(sample, tmp_path):
    pytest.importorskip("onnxruntime")
    runs = tmp_path / "runs"
    result = run_cli("--model", "gru", "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
                     "--distill", "tfidf", "--distill-weight", "0.7", "--adversarial", "1.0", "--label-smoothing", "0.05",
                     "--embedding", "random", "--embed-dim", "16", "--hidden-size", "16", "--max-len", "40", "--epochs", "2",
                     "--min-steps", "0", "--threads", "1", "--no-progress", "--runs-dir", str(runs), "--run-name", "taught")
    assert result.returncode == 0, result.stderr
    assert "distillation: TF-IDF teacher, 5-fold out-of-fold accuracy" in result.stderr
    run = runs / "taught"
    record = json.loads((run / "distill.json").read_text(encoding="utf-8"))
    assert record["teacher"] == "tfidf" and 0.5 < record["out_of_fold_accuracy"] <= 1
    assert not (run / "tfidf.npz").exists()  # the teacher is not saved: the run is the RNN alone
    state = torch.load(run / "model.pt", weights_only=True)
    assert all(k.startswith(("encoder.", "output.")) for k in state)
    predicted = run_cli("predict", "--run", str(run), "这家店的菜很好吃", "太差了，再也不买")
    assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 2, predicted.stderr
    check = tmp_path / "check.txt"
    check.write_text("很好吃\n太差了\n物流很快，包装完好\n", encoding="utf-8")
    exported = run_cli("export", "--run", str(run), "--out", str(tmp_path / "model.onnx"), "--check", str(check))
    assert exported.returncode == 0, exported.stderr
    assert "same predicted labels for all 3 texts" in exported.stdout
    from train.inference.predictors import load_predictor
    from train.inference.serve.rows import prediction_rows
    from train.inference.serve.run_info import run_info

    predictor = load_predictor(run)
    rows = prediction_rows(predictor, ["很好吃", "太差了"])
    assert [row["label"] for row in rows] == [label for label, _ in predictor.predict(["很好吃", "太差了"])]
    assert run_info(predictor, run)["model"] == "gru"


def test_out_of_range_distillation_and_adversarial_settings_are_one_line_errors():
    from tests.helpers import assert_user_error

    assert_user_error(run_cli("--distill-weight", "0", "--dry-run"), "--distill-weight")
    assert_user_error(run_cli("--distill-weight", "1.5", "--dry-run"), "--distill-weight")
    assert_user_error(run_cli("--adversarial", "-1", "--dry-run"), "--adversarial")
    assert_user_error(run_cli("--label-smoothing", "1", "--dry-run"), "--label-smoothing")
    assert_user_error(run_cli("--distill", "bert", "--dry-run"), "--distill")
