"""A trained ``--model CELL+tfidf`` run loaded from its directory alone: the recurrent model's and the TF-IDF model's
scores fused with the weight training chose (`train.classify.hybrid`). Nothing here trains."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.base.errors import DataError
from data_processor.io import Example
from train.classify.data import encode_labels
from train.classify.multilabel import top_labels
from train.classify.settings import RUN_KIND
from train.classify.tfidf_model import ARRAYS_FILE, VOCAB_FILE, load_tfidf
from train.common.metrics import classification_metrics
from train.common.rundir import RunDir
from train.inference.rnn_predictor import Predictor

FUSION_FILE = "fusion.json"


def fuse(log_probs: np.ndarray, tfidf_scores: np.ndarray, weight: float) -> np.ndarray:
    """Fused class probabilities ``[N, C]``: the softmax of ``log_probs + weight * tfidf_scores``."""
    scores = log_probs + weight * tfidf_scores
    scores = np.exp(scores - scores.max(1, keepdims=True))
    return scores / scores.sum(1, keepdims=True)


class HybridPredictor:
    """A trained ``--model CELL+tfidf`` run loaded from its directory alone; the `ClassifierPredictor` interface."""

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

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """What the run's decisions apply argmax to, ``[N, C]``: the fused probabilities."""
        return self.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text, with its fused probability."""
        return top_labels(self.predict_proba(texts), self.label_names)

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """The most probable label of each text with its fused probability, as a one-label set (see `Predictor.predict_labels`)."""
        return [[pair] for pair in self.predict(texts)]

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        y = encode_labels(self.rnn.pipeline.labels, examples, source)
        return classification_metrics(y, self.predict_proba([e.text for e in examples]).argmax(1), self.label_names)
