"""``--distill tfidf``: the recurrent classifier learns from the TF-IDF model's probabilities as well as from the labels.

The teacher is the run's own TF-IDF model (``--tfidf-*`` options; by default
character 1-3-grams and a LinearSVC). Its scores on the training rows are
*out of fold*: the rows are cut into `FOLDS` folds and each fold is scored by a
teacher fitted on the other folds only, so no row is scored by a teacher that
saw it (a teacher scoring its own training rows would hand the student its
memorised labels, not what n-grams generalise). The scores become
probabilities through one scale fitted to the out-of-fold log-loss (a LinearSVC
gives margins, not probabilities). The student's loss per row is
``(1 - w) * CE(label) + w * CE(teacher probabilities)`` (Hinton et al. 2015;
the soft term's entropy constant left out), with binary cross-entropy per
label for a multi-label run. Only the RNN is saved: the teacher is needed
in training alone.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from data_processor.base.messages import Log, log_stderr
from models.tfidf import TfidfClassifier
from train.classify.settings import FOLDS

ABSENT_SCORE = -10.0  # a class that a fold's training rows lack scores this far below the fold's lowest score
SCALES = np.exp(np.linspace(np.log(0.05), np.log(50.0), 121))  # candidate scales of the teacher's scores


def fold_indices(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (fit rows, scored rows) pairs: the scored rows partition ``0..N-1`` and never meet their fit rows.
    Stratified by class for single-label ``labels`` ``[N]``; plain for a multi-hot matrix ``[N, C]``."""
    folds = max(2, min(folds, len(labels)))
    if labels.ndim == 1 and np.bincount(labels).max(initial=0) >= folds:
        with warnings.catch_warnings():  # a class with fewer rows than folds is fine: some folds lack it
            warnings.simplefilter("ignore", UserWarning)
            return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
    return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(labels))))


def out_of_fold_scores(texts: Sequence[str], labels: np.ndarray, num_classes: int, make_teacher: Callable[[], TfidfClassifier],
                       folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """The teacher's scores ``[N, num_classes]`` of every training row, each from a teacher fitted without that row's fold.

    A class missing from a fold's fit rows (possible for a rare class) scores `ABSENT_SCORE` below that fold's lowest
    score; a multi-label column that is constant in a fit fold is scored by the teacher as it handles it.
    """
    scores = np.zeros((len(texts), num_classes), dtype=np.float64)
    for fit_rows, scored_rows in fold_indices(labels, folds, seed):
        fit_texts, scored_texts = [texts[i] for i in fit_rows], [texts[i] for i in scored_rows]
        y = labels[fit_rows]
        if labels.ndim == 2:
            scores[scored_rows] = make_teacher().fit(fit_texts, y).decision_function(scored_texts)
            continue
        present = np.unique(y)
        if len(present) < 2:  # nothing to tell apart: the one class seen wins
            fold = np.full((len(scored_rows), num_classes), ABSENT_SCORE)
            fold[:, present] = 0.0
        else:
            remap = np.full(num_classes, -1)
            remap[present] = np.arange(len(present))
            part = make_teacher().fit(fit_texts, remap[y]).decision_function(scored_texts)
            fold = np.full((len(scored_rows), num_classes), part.min() + ABSENT_SCORE)
            fold[:, present] = part
        scores[scored_rows] = fold
    return scores


def teacher_probabilities(scores: np.ndarray, scale: float, multi_label: bool) -> np.ndarray:
    """Probabilities from teacher scores times ``scale``: a softmax over the classes, or a sigmoid per label."""
    z = scores * scale
    if multi_label:
        return 1.0 / (1.0 + np.exp(-z))
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` (ids ``[N]``, or a multi-hot ``[N, C]`` scored per label)."""
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    if labels.ndim == 2:
        return float(-(labels * np.log(p) + (1 - labels) * np.log1p(-p)).sum(1).mean())
    return float(-np.log(p[np.arange(len(labels)), labels]).mean())


def fit_scale(scores: np.ndarray, labels: np.ndarray, multi_label: bool) -> float:
    """The scale of `SCALES` whose probabilities give ``labels`` the lowest log-loss (the scores must be out of fold)."""
    return float(min(SCALES, key=lambda s: log_loss(teacher_probabilities(scores, s, multi_label), labels)))


def distillation_targets(texts: Sequence[str], labels: np.ndarray, num_classes: int, make_teacher: Callable[[], TfidfClassifier],
                         multi_label: bool, seed: int = 0, log: Log = log_stderr) -> tuple[np.ndarray, dict]:
    """The teacher's out-of-fold probabilities ``[N, num_classes]`` (float32) for the training rows, and a record of how
    good they are (out-of-fold accuracy, log-loss, scale, time)."""
    start = time.perf_counter()
    scores = out_of_fold_scores(texts, labels, num_classes, make_teacher, FOLDS, seed)
    scale = fit_scale(scores, labels, multi_label)
    probs = teacher_probabilities(scores, scale, multi_label)
    if multi_label:
        accuracy = float(((probs > 0.5) == (labels > 0.5)).all(1).mean())
    else:
        accuracy = float((probs.argmax(1) == labels).mean())
    record = {"teacher": "tfidf", "folds": FOLDS, "scale": round(scale, 6), "out_of_fold_accuracy": round(accuracy, 6),
              "out_of_fold_log_loss": round(log_loss(probs, labels), 6), "seconds": round(time.perf_counter() - start, 2)}
    log(f"distillation: TF-IDF teacher, {FOLDS}-fold out-of-fold accuracy {accuracy:.4f} on the training rows "
        f"(scale {scale:.3g}, {record['seconds']:.1f}s)")
    return probs.astype(np.float32), record
