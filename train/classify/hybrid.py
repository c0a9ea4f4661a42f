"""``--model lstm+tfidf`` (and gru+, rnn+): the recurrent classifier and the TF-IDF model, fused late.

Both are trained on the same data as they would be alone. Their scores are
combined as ``log p_rnn + weight * tfidf_scores`` (a product of experts: the
softmax of the sum is the fused probability), with ``weight`` the value of
`WEIGHTS` that scores best on the dev set (ties go to the smaller weight;
``0`` is the recurrent model alone). The run directory holds the RNN's files,
the TF-IDF model's files and ``fusion.json``; it loads without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.errors import DataError
from data_processor.io import Example
from data_processor.messages import Log, log_stderr
from train.classify.data import encode_labels, load_splits
from train.classify.predictor import Predictor
from train.classify.rnn import fit_classifier_run
from train.classify.run_files import write_report
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.classify.tfidf import (
    ARRAYS_FILE,
    VOCAB_FILE,
    fit_tfidf,
    load_tfidf,
    save_tfidf,
)
from train.common.metrics import classification_metrics
from train.common.rundir import RunDir

FUSION_FILE = "fusion.json"
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)  # candidate weights of the TF-IDF scores


def fuse(log_probs: np.ndarray, tfidf_scores: np.ndarray, weight: float) -> np.ndarray:
    """Fused class probabilities ``[N, C]``: the softmax of ``log_probs + weight * tfidf_scores``."""
    scores = log_probs + weight * tfidf_scores
    scores = np.exp(scores - scores.max(1, keepdims=True))
    return scores / scores.sum(1, keepdims=True)


def choose_weight(log_probs: np.ndarray, tfidf_scores: np.ndarray, labels: Sequence[int]) -> tuple[float, float]:
    """The weight of `WEIGHTS` whose fusion is most accurate on ``labels`` (the smallest among ties), and that accuracy."""
    y = np.asarray(labels)
    accuracy = {w: float((fuse(log_probs, tfidf_scores, w).argmax(1) == y).mean()) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (accuracy[w], -w))
    return best, accuracy[best]


def train_hybrid(config: ClassifierConfig, log: Log = log_stderr, run: RunDir | None = None) -> dict:
    """Train the recurrent model and the TF-IDF model of ``config`` into one run directory (or go on with the interrupted
    ``run``), weigh them on dev, report test."""
    run, summary = fit_classifier_run(config, log, run)
    splits, names = load_splits(config, lambda _: None)
    rnn = Predictor(run.path)
    labels = rnn.pipeline.labels
    tfidf = fit_tfidf(config, splits.train, encode_labels(labels, splits.train, names["train"]), log)
    save_tfidf(run, tfidf)
    dev_texts = [e.text for e in splits.dev]
    weight, dev_accuracy = choose_weight(np.log(rnn.predict_proba(dev_texts) + 1e-12), tfidf.decision_function(dev_texts),
                                         encode_labels(labels, splits.dev, names["dev"]))
    log(f"fusion: TF-IDF weight {weight:g} (chosen on dev among {', '.join(map(str, WEIGHTS))}): dev accuracy "
        f"{summary['best_dev_accuracy']:.4f} ({config.cell} alone) -> {dev_accuracy:.4f}")
    run.save_json(FUSION_FILE, {"tfidf_weight": weight})
    fused = HybridPredictor(run.path)
    dev_metrics = fused.evaluate(splits.dev, names["dev"])
    test_metrics = fused.evaluate(splits.test, names["test"]) if splits.test else None
    result = {"run": summary["run"], "best_epoch": summary["best_epoch"], "best_dev_accuracy": dev_accuracy, "epochs_run": summary["epochs_run"],
              "tfidf_weight": weight, "rnn_dev_accuracy": summary["best_dev_accuracy"],
              **{f"rnn_{k}": summary[k] for k in ("test_accuracy", "test_macro_f1") if k in summary}}
    result = write_report(run, result, test_metrics, dev_metrics)
    run.mark_complete(result)
    return result


class HybridPredictor:
    """A trained ``--model CELL+tfidf`` run loaded from its directory alone; the same interface as `Predictor`."""

    probabilistic = True
    multi_label = False  # a multi-label run cannot be a hybrid (ClassifierConfig.check_labels)

    NEEDS = (*Predictor.NEEDS, VOCAB_FILE, ARRAYS_FILE, FUSION_FILE)

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.rnn = Predictor(run_dir, device)
        self.config = self.rnn.config
        self.tfidf = load_tfidf(run, self.config)
        fusion = run.load_json(FUSION_FILE)
        weight = fusion.get("tfidf_weight") if isinstance(fusion, dict) else None
        if not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise DataError(f"{run.file(FUSION_FILE)}: 'tfidf_weight' must be a number >= 0, got {weight!r}; train the run again")
        self.weight, self.run = float(weight), run

    @property
    def label_names(self) -> list[str]:
        return self.rnn.label_names

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Fused class probabilities ``[N, C]``, columns in the order of `label_names`."""
        return fuse(np.log(self.rnn.predict_proba(texts) + 1e-12), self.tfidf.decision_function(texts), self.weight)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text, with its fused probability."""
        probs = self.predict_proba(texts)
        return [(self.label_names[i], float(p[i])) for i, p in zip(probs.argmax(1), probs)]

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """The most probable label of each text with its fused probability, as a one-label set (see `Predictor.predict_labels`)."""
        return [[pair] for pair in self.predict(texts)]

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        y = encode_labels(self.rnn.pipeline.labels, examples, source)
        return classification_metrics(y, self.predict_proba([e.text for e in examples]).argmax(1), self.label_names)
